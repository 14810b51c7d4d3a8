"""Exception hierarchy of wsss_zoo.

Every error a user can cause derives from :class:`WsssZooError`, and its message says what to do.
The subclasses also derive from the closest built-in exception (``ValueError``, ``OSError``,
``ImportError``) so that generic ``except`` clauses keep working.
"""
from __future__ import annotations


class WsssZooError(Exception):
    """Base class of every error raised on purpose by wsss_zoo."""


class UnknownNameError(WsssZooError, ValueError):
    """A model, pipeline, class or dataset name that the registry does not know."""


class InvalidImageError(WsssZooError, ValueError):
    """The image is not an HxWx3 uint8-compatible array, PIL image or readable path."""


class InvalidLabelsError(WsssZooError, ValueError):
    """Image-level labels that are empty or outside the dataset's classes."""


class SaliencyError(WsssZooError, ValueError):
    """A saliency map is required but missing, unreadable or of the wrong size."""


class CheckpointError(WsssZooError):
    """A checkpoint file cannot be read or does not fit the network."""


class CheckpointFormatError(CheckpointError, ValueError):
    """The file is not a checkpoint in any known layout (HTML page, truncated file, wrong family)."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """The state dict does not fit the network; the message names the missing and unexpected keys."""

    def __init__(self, message: str, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class MissingWeightsError(CheckpointError, FileNotFoundError):
    """A pipeline role has no published weights and none were given (e.g. RIB's IRN)."""


class DownloadError(WsssZooError, OSError):
    """A download failed; the message says where to place a manually downloaded file."""


class HtmlInsteadOfFileError(DownloadError):
    """The server answered with an HTML page (Drive interstitial, login, error page) instead of the file."""


class DriveQuotaError(HtmlInsteadOfFileError):
    """Google Drive refuses the download because the file's quota is exceeded."""


class NotACheckpointError(DownloadError):
    """The server sent a body that is no checkpoint: empty, JSON, or magic bytes of no accepted format."""


class ChecksumMismatchError(DownloadError):
    """The downloaded, cached or given file does not have the sha256 recorded (registry or first download)."""


class OfflineError(DownloadError):
    """Offline mode is on (WSSS_ZOO_OFFLINE / HF_HUB_OFFLINE) and the file is not in the cache."""


class CacheError(WsssZooError, OSError):
    """The cache folder cannot be used (read-only, full, not a folder, WSSS_ZOO_HOME not expandable)."""


class CrfNotInstalledError(WsssZooError, ImportError):
    """Dense CRF was requested but pydensecrf (the ``crf`` extra) is not installed."""


class NotRedistributableError(WsssZooError, PermissionError):
    """Re-hosting these weights is not allowed by their license (or no license was published)."""


class DatasetError(WsssZooError, ValueError):
    """A dataset root, split file or annotation is missing or inconsistent."""


class ConfigError(WsssZooError, ValueError):
    """An option or setting has an invalid value."""


class RegistryError(ConfigError):
    """A registry entry (checkpoints.json or a user overlay) is malformed, or a plugin name is taken twice.

    The message names the file, the entry and the field."""


class DistributedError(WsssZooError, RuntimeError):
    """The torchrun environment is incomplete or inconsistent, or the process group cannot start (a missing
    peer, an unreachable MASTER_ADDR:MASTER_PORT); the message says which variable or rank to fix."""


class NonFiniteError(WsssZooError, ArithmeticError):
    """A computed result holds NaN or infinite values (e.g. float16 overflow); the message names it."""


__all__ = [name for name in dir() if name.endswith("Error")]
