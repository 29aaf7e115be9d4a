"""The model cache shared by chapters: recipe hashes, where files go, load or train, and that a
trained model survives any failure to save it."""

import os
from dataclasses import asdict

import pytest
import torch

from vaebook import pretrained
from vaebook.checkpoints import CheckpointError
from vaebook.models import VAE

TINY = pretrained.Recipe(model="VAE", hidden=(8,), latent_dim=2, loss="vae", epochs=1, batch_size=16)


@pytest.fixture()
def tiny_recipe(monkeypatch, tmp_path):
    monkeypatch.setitem(pretrained.RECIPES, "tiny", TINY)
    monkeypatch.setenv(pretrained.ENV_VAR, str(tmp_path))
    x = torch.rand(64, 784, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(pretrained, "load_mnist", lambda split: (x, torch.zeros(64, dtype=torch.long)))
    return tmp_path


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained.ENV_VAR, str(tmp_path / "env"))
    assert pretrained.cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert pretrained.cache_dir() == tmp_path / "env"
    monkeypatch.delenv(pretrained.ENV_VAR)
    monkeypatch.setenv("VAEBOOK_DATA", str(tmp_path / "data"))
    assert pretrained.cache_dir() == tmp_path / "data" / "models"


def test_a_changed_recipe_gets_another_file(tiny_recipe, monkeypatch):
    first = pretrained.checkpoint_path("tiny")
    monkeypatch.setitem(pretrained.RECIPES, "tiny", pretrained.Recipe(**{**TINY.__dict__, "epochs": 2}))
    assert pretrained.checkpoint_path("tiny") != first
    assert first.parent == tiny_recipe and first.name.startswith("tiny-")


def test_load_or_train_trains_once_then_loads(tiny_recipe, monkeypatch):
    trained = pretrained.load_or_train("tiny", device="cpu", progress=False)
    assert isinstance(trained, VAE) and pretrained.checkpoint_path("tiny").is_file()
    monkeypatch.setattr(pretrained, "train_recipe", lambda *a, **k: pytest.fail("trained again"))
    loaded = pretrained.load_or_train("tiny")
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_train_recipe_is_repeatable(tiny_recipe):
    x = torch.rand(64, 784, generator=torch.Generator().manual_seed(1))
    one, history = pretrained.train_recipe("tiny", x, x[:16].round(), device="cpu", progress=False)
    two, _ = pretrained.train_recipe("tiny", x, device="cpu", progress=False)
    assert len(history.test) == 1
    for a, b in zip(one.state_dict().values(), two.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_bad_names_and_damaged_files(tiny_recipe):
    with pytest.raises(ValueError, match="no recipe called 'nope'"):
        pretrained.load_or_train("nope")
    path = pretrained.checkpoint_path("tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="Delete it"):
        pretrained.load_or_train("tiny")


def test_an_unwritable_cache_is_refused_before_training(tiny_recipe, monkeypatch):
    monkeypatch.setattr(pretrained, "train", lambda *a, **k: pytest.fail("trained before the check"))
    blocker = tiny_recipe / "a-file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(OSError, match=f"cannot save trained models in {blocker}.*VAEBOOK_CACHE"):
        pretrained.train_recipe("tiny", torch.rand(32, 784), directory=blocker / "models")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_is_refused_before_training(tiny_recipe, monkeypatch):
    monkeypatch.setattr(pretrained, "train", lambda *a, **k: pytest.fail("trained before the check"))
    read_only = tiny_recipe / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    with pytest.raises(PermissionError, match="cannot save trained models"):
        pretrained.train_recipe("tiny", torch.rand(32, 784), directory=read_only)


@pytest.mark.parametrize("entry", ["train_recipe", "load_or_train"])
def test_a_model_whose_save_fails_is_returned_with_a_warning(tiny_recipe, monkeypatch, entry):
    def full_disk(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pretrained, "save_model", full_disk)
    with pytest.warns(RuntimeWarning, match="could not be saved.*No space left"):
        if entry == "train_recipe":
            model, _ = pretrained.train_recipe("tiny", torch.rand(32, 784), device="cpu", progress=False)
        else:
            model = pretrained.load_or_train("tiny", device="cpu", progress=False)
    assert isinstance(model, VAE) and not pretrained.checkpoint_path("tiny").exists()


def test_build_model_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    one = pretrained.build_model(TINY)
    assert torch.equal(torch.rand(1), expected)
    assert torch.equal(one.encoder[0].weight, pretrained.build_model(TINY).encoder[0].weight)


def test_autoencoder_recipes_train_and_reload(tiny_recipe, monkeypatch):
    dae = pretrained.Recipe(model="Autoencoder", hidden=(8,), latent_dim=3, loss="denoising_bce",
                            noise_std=0.3, epochs=1, batch_size=16)
    monkeypatch.setitem(pretrained.RECIPES, "tiny_dae", dae)
    trained = pretrained.load_or_train("tiny_dae", device="cpu", progress=False)
    assert trained.config == {"data_dim": 784, "hidden": [8], "latent_dim": 3}
    assert torch.equal(pretrained.load_or_train("tiny_dae").encoder[0].weight, trained.encoder[0].weight)


def test_a_recipe_can_give_a_vae_a_smaller_encoder(tiny_recipe, monkeypatch):
    recipe = pretrained.Recipe(model="VAE", hidden=(8, 8), encoder_hidden=(4,), latent_dim=2,
                               loss="vae", epochs=1, batch_size=16)
    monkeypatch.setitem(pretrained.RECIPES, "small_encoder", recipe)
    model = pretrained.load_or_train("small_encoder", device="cpu", progress=False)
    assert model.encoder[0].out_features == 4 and len(model.decoder) == 5
    assert torch.equal(pretrained.load_or_train("small_encoder").encoder[0].weight, model.encoder[0].weight)
    with pytest.raises(ValueError, match="encoder_hidden is for a VAE only"):
        pretrained.build_model(pretrained.Recipe(model="Autoencoder", hidden=(8,), encoder_hidden=(4,),
                                                 latent_dim=2, loss="bce", epochs=1))


def test_a_classifier_recipe_trains_on_labels_and_reloads(tiny_recipe, monkeypatch):
    recipe = pretrained.Recipe(model="Classifier", hidden=(8,), latent_dim=10, loss="cross_entropy",
                               epochs=1, batch_size=16)
    monkeypatch.setitem(pretrained.RECIPES, "tiny", recipe)
    x = torch.rand(64, 784, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="needs labels"):
        pretrained.train_recipe("tiny", x)
    model = pretrained.load_or_train("tiny", progress=False)  # labels from load_mnist
    assert type(model).__name__ == "Classifier" and model.classes == 10
    again = pretrained.load_or_train("tiny")
    torch.testing.assert_close(again.probabilities(x), model.probabilities(x))


def test_the_selection_table_names_the_recipe_it_chose():
    table = pretrained.selection("chapter5_vae")
    rows, chosen = table["rows"], table["rows"][table["chosen"]]
    recipe = {key: list(value) if isinstance(value, tuple) else value
              for key, value in asdict(pretrained.RECIPES["chapter5_vae"]).items()}
    assert chosen["recipe"] == recipe and chosen["candidate"]
    assert chosen["diff_to_chosen"] == 0 and chosen["diff_se"] == 0
    assert rows["centre"]["diff_to_centre"] == 0 and rows["centre"]["diff_to_centre_se"] == 0
    centre_seeds = {row["recipe"]["seed"] for row in rows.values()
                    if row["recipe"] | {"seed": 0} == rows["centre"]["recipe"] | {"seed": 0}}
    assert len(centre_seeds) >= 3 and table["seed_sd"] > 0  # the yardstick of training luck
    candidates = [row for row in rows.values() if row["candidate"]]
    assert min(row["val_nll"] for row in candidates) == chosen["val_nll"]
    assert table["protocol"]["fit_images"] + table["protocol"]["validation_images"] == 60_000


def test_a_recipe_without_a_selection_table_is_refused():
    with pytest.raises(ValueError, match="no selection table"):
        pretrained.selection("chapter1_ae")
    with pytest.raises(ValueError, match="no recipe called"):
        pretrained.selection("nonsense")


def test_fit_recipe_trains_what_train_recipe_trains_without_the_cache(tiny_recipe):
    x = torch.rand(64, 784, generator=torch.Generator().manual_seed(1))
    cached, _ = pretrained.train_recipe("tiny", x, device="cpu", progress=False)
    fitted, history = pretrained.fit_recipe(TINY, x, device="cpu", progress=False)
    assert len(history.train) == TINY.epochs and not fitted.training
    for a, b in zip(cached.state_dict().values(), fitted.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tiny_recipe.iterdir()] == [pretrained.checkpoint_path("tiny").name]


def test_the_book_seed_moves_every_recipe_and_its_cache_file(tiny_recipe, monkeypatch):
    monkeypatch.delenv("VAEBOOK_SEED", raising=False)
    stored, path = pretrained.recipe("tiny"), pretrained.checkpoint_path("tiny")
    assert stored == TINY
    monkeypatch.setenv("VAEBOOK_SEED", "3")
    assert pretrained.recipe("tiny").seed == TINY.seed + 3
    assert pretrained.checkpoint_path("tiny") != path
    one, _ = pretrained.train_recipe("tiny", torch.rand(32, 784), device="cpu", progress=False)
    monkeypatch.setenv("VAEBOOK_SEED", "0")
    zero, _ = pretrained.train_recipe("tiny", torch.rand(32, 784), device="cpu", progress=False)
    assert not torch.equal(one.decoder[0].weight, zero.decoder[0].weight)  # other initial weights


def test_later_fields_keep_older_recipes_hashes_and_change_the_hash_when_used():
    import hashlib
    import json

    later = pretrained.LATER_FIELDS.items()
    older_recipes = [recipe for recipe in pretrained.RECIPES.values()
                     if all(getattr(recipe, field) == default for field, default in later)]
    assert len(older_recipes) >= 4  # chapters 1, 2 and 5 and the classifier
    for recipe in older_recipes:  # the hash from before the later fields existed
        older = {k: v for k, v in asdict(recipe).items() if k not in pretrained.LATER_FIELDS}
        expected = hashlib.sha256(json.dumps(older, sort_keys=True).encode()).hexdigest()[:10]
        assert recipe.digest() == expected
    digests = {pretrained.Recipe(**{**TINY.__dict__, field: value}).digest()
               for field, value in (("iwae_k", 5), ("flow_layers", 2), ("prior_components", 3))}
    assert len(digests | {TINY.digest()}) == 4
    assert "iwae_k" not in repr(TINY)
    assert "iwae_k=5" in repr(pretrained.Recipe(**{**TINY.__dict__, "iwae_k": 5}))


def test_recipes_for_iwae_flows_and_a_learned_prior_train_and_reload(tiny_recipe, monkeypatch):
    recipe = pretrained.Recipe(**{**TINY.__dict__, "loss": "iwae", "iwae_k": 3, "flow_layers": 2,
                                  "prior_components": 3})
    monkeypatch.setitem(pretrained.RECIPES, "rich", recipe)
    model = pretrained.load_or_train("rich", device="cpu", progress=False)
    assert model.flow_layers == 2 and model.prior.config["components"] == 3
    assert model.prior.config["learnable"]
    untrained = pretrained.build_model(pretrained.recipe("rich"))
    assert not torch.equal(model.prior.means, untrained.prior.means)  # the prior trained too
    again = pretrained.load_or_train("rich")
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
    for field in ("flow_layers", "prior_components"):
        with pytest.raises(ValueError, match=f"{field} is for a VAE only"):
            pretrained.build_model(pretrained.Recipe(model="Autoencoder", hidden=(8,), latent_dim=2,
                                                     loss="bce", epochs=1, **{field: 2}))


CHAPTER11_FIELDS = {"beta": 4.0, "nats_per_unit": 0.5, "temperature": 0.5, "n_categories": 3, "code_dim": 2,
                    "n_codes": 4, "commitment_weight": 2.0}


def test_chapter11_fields_change_the_hash_only_when_used():
    digests = {pretrained.Recipe(**{**TINY.__dict__, field: value}).digest()
               for field, value in CHAPTER11_FIELDS.items()}
    assert len(digests | {TINY.digest()}) == len(CHAPTER11_FIELDS) + 1
    assert set(CHAPTER11_FIELDS) <= set(pretrained.LATER_FIELDS)
    assert "beta" not in repr(TINY)


@pytest.mark.parametrize("kind", [
    {"loss": "beta_vae", "beta": 4.0},
    {"loss": "free_bits", "nats_per_unit": 0.5},
    {"model": "CategoricalVAE", "loss": "gumbel_softmax", "n_categories": 3, "temperature": 0.5},
    {"model": "CategoricalVAE", "loss": "straight_through", "n_categories": 3},
    {"model": "VQVAE", "loss": "vq_vae", "code_dim": 2, "n_codes": 4, "commitment_weight": 2.0},
])
def test_chapter11_recipes_train_and_reload(tiny_recipe, monkeypatch, kind):
    recipe = pretrained.Recipe(**{**TINY.__dict__, "output_bias_init": True, **kind})
    monkeypatch.setitem(pretrained.RECIPES, "discrete", recipe)
    model = pretrained.load_or_train("discrete", device="cpu", progress=False)
    assert type(model).__name__ == recipe.model
    untrained = pretrained.build_model(pretrained.recipe("discrete"))
    assert not torch.equal(model.decoder[-1].weight, untrained.decoder[-1].weight)
    again = pretrained.load_or_train("discrete")
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name


def test_chapter11_recipes_are_registered_and_fields_belong_to_their_models():
    names = [name for name in pretrained.RECIPES if name.startswith("chapter11_")]
    assert len([n for n in names if n.startswith("chapter11_beta_")]) >= 6 and "chapter11_beta_1" in names
    assert len([n for n in names if n.startswith("chapter11_freebits_")]) >= 2
    assert {"chapter11_categorical_gumbel_softmax", "chapter11_categorical_straight_through",
            "chapter11_vq_16", "chapter11_vq_64", "chapter11_vq_256"} <= set(names)
    for name in names:
        recipe = pretrained.RECIPES[name]
        assert recipe.loss in pretrained.BINARY
        assert type(pretrained.build_model(recipe)).__name__ == recipe.model
    for field, value in (("n_categories", 3), ("code_dim", 2), ("n_codes", 4)):
        with pytest.raises(ValueError, match=f"{field} is for a"):
            pretrained.build_model(pretrained.Recipe(**{**TINY.__dict__, field: value}))
