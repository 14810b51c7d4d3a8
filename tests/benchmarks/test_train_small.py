"""benchmarks/train_small.py: its training command lines parse, and the weights they write load under every
published name the script claims."""
from pathlib import Path

import pytest

import train_small
from training import run
from training.checkpoint import output_stem
from training.recipes import get_recipe
from wsss_zoo.registry import model_entry


@pytest.mark.parametrize("key", sorted(train_small.NETWORKS))
def test_training_command_is_a_reduced_run_of_the_recipe(key):
    net = train_small.NETWORKS[key]
    args = run.parser().parse_args(net.train_args(Path("data/VOC2012"), Path("out"), seed=0))
    cfg = run.config_from_args(args)
    assert cfg.recipe.name == net.recipe and cfg.random_init and cfg.train_bn
    assert cfg.iterations == net.iterations and cfg.global_batch == net.batch_size and cfg.lr == net.lr
    assert cfg.data()["crop"] == net.crop
    assert cfg.data_overrides.get("resize_long") == net.resize_long  # None: the recipe's rescale range stays
    assert not cfg.quirk("polyoptimizer_momentum")
    assert train_small.weights_file(Path("out"), net) == Path("out") / f"{output_stem(cfg.recipe)}.pth"


@pytest.mark.parametrize("key", sorted(train_small.NETWORKS))
def test_every_claimed_name_has_the_trained_architecture_and_layout(key):
    net = train_small.NETWORKS[key]
    load_as = get_recipe(net.recipe).load_as
    assert net.name == load_as  # CAMs are made under the name the recipe trains
    trained = model_entry(load_as)
    for name in net.loads_as:
        entry = model_entry(name)
        same = (entry.builder, entry.builder_kwargs, entry.layout) == (trained.builder, trained.builder_kwargs,
                                                                      trained.layout)
        assert same, name


def test_shell_quoting_of_printed_commands():
    assert train_small._shell(["python", "a b", "--x=1"]) == "python 'a b' --x=1"


def test_finished_runs_are_kept_and_changed_settings_start_over(tmp_path, monkeypatch):
    calls = []

    def fake_run(argv, env):  # stands in for training/run.py: writes the weights and a resume state
        out = Path(argv[argv.index("--out") + 1])
        calls.append((out / f"{argv[2]}.last.pth").is_file())  # whether the run could resume
        (out / f"{output_stem(get_recipe(argv[2]))}.pth").write_bytes(b"w")
        (out / f"{argv[2]}.last.pth").write_bytes(b"s")

    monkeypatch.setattr(train_small, "_run", fake_run)
    net, out = train_small.NETWORKS["irn"], tmp_path / "irn"
    path, _ = train_small.train(net, Path("voc"), out, 0, {})
    (out / train_small.CAMS).mkdir()
    assert train_small.train(net, Path("voc"), out, 0, {})[0] == path and len(calls) == 1  # kept, CAMs too
    assert (out / train_small.CAMS).is_dir()
    prepared = []
    train_small.train(net, Path("voc"), out, 1, {}, prepare=lambda: prepared.append(
        ((out / train_small.CAMS).exists(), (out / f"{net.recipe}.last.pth").exists())))
    assert len(calls) == 2 and prepared == [(False, False)]  # another seed: old CAMs and resume state gone
    stamp = out / train_small.STAMP
    assert not (out / f"{net.recipe}.last.pth").exists()  # a finished run drops its resume state
    stamp.write_text(stamp.read_text().replace('"seconds": ', '"seconds": null, "was": '))  # interrupted run:
    (out / f"{net.recipe}.last.pth").write_bytes(b"s")  # its stamp unfinished, its resume state left behind
    train_small.train(net, Path("voc"), out, 1, {})
    assert calls == [False, False, True]  # only the interrupted run with the same settings resumes
