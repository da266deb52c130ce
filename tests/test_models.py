import pytest
import torch
from torch import nn

from cifar_models import MODELS, build_model
from cifar_models.normalization import model_input
from cifar_models.models import UnknownModelError, capture_activations, display_order, model_colour, model_title, \
    register_model
from cifar_models.models.registry import UNKNOWN_COLOUR
from cifar_models.models.dropblock import DeviceDropBlock2D

EXPECTED_PARAMETERS = {"plain_cnn": 2_784_250, "senet": 11_263_042, "inception": 5_595_786}


def test_registry_names_and_errors():
    assert set(MODELS) == set(EXPECTED_PARAMETERS)
    with pytest.raises(UnknownModelError, match="unknown model 'resnet'.*inception, plain_cnn, senet"):
        build_model("resnet")
    with pytest.raises(ValueError, match="already registered"):
        register_model("senet", title="Another", summary="", order=9, colour="#000000")(lambda: nn.Identity())


def test_each_model_has_one_look_in_display_order():
    assert list(MODELS) == ["plain_cnn", "senet", "inception"]  # the lab's order, not the import order
    assert [MODELS[name].title for name in MODELS] == ["Plain CNN", "SENet", "Inception"]
    assert len({spec.colour for spec in MODELS.values()}) == len(MODELS)  # one colour each
    assert all(spec.summary.endswith(".") for spec in MODELS.values())
    assert display_order(["old_net", "inception", "senet", "plain_cnn"]) == ["plain_cnn", "senet", "inception",
                                                                             "old_net"]
    assert model_title("old_net") == "old_net" and model_colour("old_net") == UNKNOWN_COLOUR


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_shapes_parameters_and_named_layers(name):
    model = build_model(name).eval()
    assert model.num_parameters() == EXPECTED_PARAMETERS[name]
    assert model.macs_per_image() > 10_000_000
    layers = model.inspectable_layers()
    logits, captured = capture_activations(model, torch.randn(3, 3, 32, 32), list(layers))
    assert logits.shape == (3, 10)
    for layer_name, layer in layers.items():
        assert tuple(captured[layer_name].shape) == (3, *layer.shape), layer_name


def test_named_layer_kinds():
    assert len(build_model("senet").inspectable_layers("gate")) == 8
    branches = build_model("inception").inspectable_layers("branch")
    assert len(branches) == 4 * 8
    assert {n.rsplit(".", 1)[1] for n in branches} == {"branch1x1", "branch3x3", "branch_double3x3", "branch_pool"}
    with pytest.raises(KeyError, match="unknown layer"):
        capture_activations(build_model("plain_cnn"), torch.randn(1, 3, 32, 32), ["nope"])


def test_plain_cnn_macs_match_hand_count():
    # conv k*k*Cin*Cout*H*W at 32, 16, 8, 4, 2 pixels, plus the two linear layers
    convs = [(7, 3, 32, 32), (5, 32, 64, 16), (5, 64, 128, 8), (3, 128, 256, 4), (3, 256, 512, 2)]
    expected = sum(k * k * cin * cout * s * s for k, cin, cout, s in convs) + 512 * 2000 + 2000 * 10
    assert build_model("plain_cnn").macs_per_image() == expected


def test_device_dropblock_matches_package_drop_rate():
    from dropblock import DropBlock2D

    torch.manual_seed(0)
    x = torch.ones(64, 8, 32, 32)
    for block_size in (8, 4, 2):
        ours, theirs = DeviceDropBlock2D(0.3, block_size).train(), DropBlock2D(0.3, block_size).train()
        ours_rate = torch.stack([(ours(x) == 0).float().mean() for _ in range(10)]).mean()
        theirs_rate = torch.stack([(theirs(x) == 0).float().mean() for _ in range(10)]).mean()
        assert abs(ours_rate - theirs_rate) < 0.02, (block_size, ours_rate, theirs_rate)
        assert ours_rate > 0.05
    assert torch.equal(DeviceDropBlock2D(0.3, 8).eval()(x), x)


def test_ramped_dropblock_follows_the_packages_linear_scheduler():
    """The ramp sets, before each training step, the drop probability the dropblock package's LinearScheduler sets
    when stepped once before each step (its values run from 0 to the target over the run's steps)."""
    from dropblock import DropBlock2D, LinearScheduler

    total_steps = 37
    model = build_model("plain_cnn", drop_prob=0.15, drop_schedule="linear")
    scheduler = LinearScheduler(DropBlock2D(0.15, 8), start_value=0.0, stop_value=0.15, nr_steps=total_steps)
    ours = [module for module in model.modules() if isinstance(module, DeviceDropBlock2D)]
    assert [layer.block_size for layer in ours] == [8, 4, 2]
    assert all(layer.drop_prob == 0.0 for layer in ours)  # before training starts
    for step in range(total_steps + 3):  # past the end, the package keeps its last value, and so does the ramp
        scheduler.step()
        model.follow_training(step, total_steps)
        assert all(layer.drop_prob == pytest.approx(scheduler.dropblock.drop_prob, abs=1e-12) for layer in ours), step
    assert ours[0].drop_prob == pytest.approx(0.15)


def test_dropblock_options_reach_the_layers_and_the_seeds_fixed_rate_stays_the_default():
    seed = build_model("plain_cnn")
    fixed = [module for module in seed.modules() if isinstance(module, DeviceDropBlock2D)]
    assert [(layer.drop_prob, layer.block_size) for layer in fixed] == [(0.3, 8), (0.3, 4), (0.3, 2)]
    seed.follow_training(0, 100)  # a fixed rate ignores the schedule
    assert all(layer.drop_prob == 0.3 for layer in fixed)
    custom = build_model("plain_cnn", drop_prob=0.1, drop_block_sizes=[5, 3], drop_schedule="linear")
    layers = [module for module in custom.modules() if isinstance(module, DeviceDropBlock2D)]
    assert [(layer.target_prob, layer.block_size) for layer in layers] == [(0.1, 5), (0.1, 3)]
    assert custom.num_parameters() == seed.num_parameters()  # DropBlock has no weights: the checkpoints still load
    for options, named in [({"drop_prob": 1.0}, "drop_prob"), ({"drop_block_sizes": (8, 4, 2, 2, 2, 2)},
                                                                "drop_block_sizes"),
                           ({"drop_block_sizes": (0,)}, "drop_block_sizes"), ({"drop_schedule": "cosine"},
                                                                               "drop_schedule")]:
        with pytest.raises(ValueError, match=named):
            build_model("plain_cnn", **options)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_short_cpu_training_beats_chance(name, cifar):
    """Two passes over 2,000 real images, then accuracy on 1,000 held-out ones well above chance.

    Chance is 10% with a standard deviation of about 1 point on 1,000 images; the three models reach 28-31% here.
    """
    torch.manual_seed(0)
    model = build_model(name)
    images, labels = cifar.train.images[:2000], torch.from_numpy(cifar.train.labels[:2000])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    losses = []
    model.train()
    for epoch in range(2):
        for start in range(0, 2000, 64):
            loss = nn.functional.cross_entropy(model(model_input(images[start:start + 64])), labels[start:start + 64])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    model.eval()
    with torch.no_grad():
        predictions = model(model_input(cifar.val.images[:1000])).argmax(1)
    accuracy = (predictions == torch.from_numpy(cifar.val.labels[:1000])).float().mean().item()
    assert accuracy > 0.18, accuracy
