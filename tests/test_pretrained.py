"""The public way to the trained models: cifar_models.load_pretrained and torch.hub through hubconf.py, on the
committed checkpoints."""
from pathlib import Path

import numpy as np
import pytest
import torch

import cifar_models
from cifar_models.checkpoint import RECORD_FILE, read_record, write_json
from cifar_models import pretrained
from cifar_models.evaluation import predict_logits
from cifar_models.run_record import CheckpointError

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "checkpoints"
IMAGES = 200  # the first test images: enough for the committed models' 83-90% to show, in seconds on a CPU


def hub(name: str, **options):
    return torch.hub.load(str(REPO), name, source="local", **options)


def test_hub_lists_every_registered_model_and_nothing_else():
    import hubconf

    entry_points = [name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")]
    assert sorted(entry_points) == sorted(cifar_models.MODELS)
    assert hubconf.senet.__doc__.startswith("SENet: ")


@pytest.mark.parametrize("name", list(cifar_models.MODELS))
def test_load_pretrained_and_hub_give_the_committed_model_in_eval_mode_with_its_record(name):
    model = cifar_models.load_pretrained(name)
    assert not model.training and model.run_record == read_record(COMMITTED / name)
    from_hub = hub(name, pretrained=True)
    assert not from_hub.training and from_hub.run_record == model.run_record
    for (key, weight), (hub_key, hub_weight) in zip(model.state_dict().items(), from_hub.state_dict().items()):
        assert key == hub_key and torch.equal(weight, hub_weight)
    assert "run_record" not in dict(model.named_buffers())  # a plain attribute: the state dict is the weights only


def test_hub_without_pretrained_gives_the_untrained_architecture():
    untrained, trained = hub("senet"), cifar_models.load_pretrained("senet")
    assert untrained.run_record is None and type(untrained) is type(trained)
    assert [p.shape for p in untrained.parameters()] == [p.shape for p in trained.parameters()]
    assert not torch.equal(next(untrained.parameters()), next(trained.parameters()).float())


def test_another_folder_and_its_problems_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown model 'resnet' for load_pretrained; choose from plain_cnn"):
        cifar_models.load_pretrained("resnet")
    with pytest.raises(ValueError, match="a pretrained model is built as its run record says; drop num_classes"):
        hub("senet", pretrained=True, num_classes=100)
    monkeypatch.setattr(pretrained, "REPOSITORY_CHECKPOINTS", tmp_path / "not-here")  # as an installed package
    with pytest.raises(CheckpointError, match="no committed checkpoints at .*not-here .*pass `checkpoints`"):
        cifar_models.load_pretrained("senet")
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=f"{tmp_path}/senet/run.json is missing"):
        hub("senet", pretrained=True, checkpoints=tmp_path)
    (tmp_path / "senet").mkdir()
    record = read_record(COMMITTED / "inception")
    write_json(tmp_path / "senet" / RECORD_FILE, record.to_json())
    (tmp_path / "senet" / "model.safetensors").write_bytes((COMMITTED / "inception" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="senet holds a inception checkpoint, not senet"):
        cifar_models.load_pretrained("senet", tmp_path)


@pytest.mark.parametrize("name", list(cifar_models.MODELS))
def test_the_pretrained_models_classify_real_test_images(name, cifar):
    """Loaded both ways, each model gets the first test images right about as often as its record says, and
    predicts what its record predicted (in fp32 here, bf16 there: a few borderline images may differ)."""
    images, labels = cifar.test.images[:IMAGES], cifar.test.labels[:IMAGES]
    for model in (cifar_models.load_pretrained(name), hub(name, pretrained=True)):
        predicted = predict_logits(model, images, precision="fp32").argmax(1).numpy()
        assert np.mean(predicted == labels) > model.run_record.accuracy - 0.06  # 83-90% on the whole test split
        assert np.mean(predicted == np.asarray(model.run_record.test.predictions[:IMAGES])) >= 0.97
        assert model.run_record.classes == cifar.classes  # output k is the data set's class k
