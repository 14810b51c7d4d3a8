"""The local cache of checkpoints: where files live, offline mode, hashes and what was recorded about them.

Layout of ``$WSSS_ZOO_HOME`` (default ``<torch hub dir>/wsss_zoo``, i.e. ``~/.cache/torch/hub/wsss_zoo``)::

    checkpoints/<filename>             upstream files exactly as published (checked, then renamed into place)
    checkpoints/<filename>.part        an interrupted download ...
    checkpoints/<filename>.part.json   ... and the validator it may be resumed with (:mod:`.partial`)
    converted/<name>-<key>.safetensors the canonical state dict, keyed by the source's sha256 (:mod:`.converted`)
    converted/<...>.safetensors.json   the converted file's own sha256, checked before each use
    huggingface/                       the Hugging Face cache (mirror, ``hf-hub:`` names)
    sha256.json                        per name: sha256, size, source, validator, fingerprint (:mod:`.records`)

:mod:`.places` (folders, offline switch), :mod:`.records` (trust-on-first-use records, admission of
downloads, verification), :mod:`.partial` (resumable parts), :mod:`.converted` (conversion cache). Fetching
bytes is :mod:`wsss_zoo.download`; name -> file -> state dict is :mod:`wsss_zoo.hub`.
"""
from .converted import conversion_path, keep_conversion, read_conversion
from .partial import PartState, discard_part, read_part_state, write_part_state
from .places import (ENV_HF_OFFLINE, ENV_HOME, ENV_OFFLINE, ENV_STRICT_SHA, cache_dir, cache_error, cached_file_path,
                     checkpoints_dir, converted_dir, describe_sources, env_flag, file_lock, hf_cache_dir, is_offline,
                     manual_instructions, part_path, part_state_path, strict_sha, writable_dir)
from .records import (ORIGIN_BY_HAND, ORIGIN_DOWNLOAD, Verification, admit, check_cached, check_local_weights,
                      fingerprint, published_sha, read_records, record_file, record_of, records_path, refusal,
                      sha256_file, verify_cached, verify_download)

__all__ = [
    "ENV_HF_OFFLINE", "ENV_HOME", "ENV_OFFLINE", "ENV_STRICT_SHA", "ORIGIN_BY_HAND", "ORIGIN_DOWNLOAD", "PartState",
    "Verification", "admit", "cache_dir", "cache_error", "cached_file_path", "check_cached", "check_local_weights",
    "checkpoints_dir", "conversion_path", "converted_dir", "describe_sources", "discard_part", "env_flag",
    "file_lock", "fingerprint", "hf_cache_dir", "is_offline", "keep_conversion", "manual_instructions", "part_path",
    "part_state_path", "published_sha", "read_conversion", "read_part_state", "read_records", "record_file",
    "record_of", "records_path", "refusal", "sha256_file", "strict_sha", "verify_cached", "verify_download",
    "writable_dir", "write_part_state",
]
