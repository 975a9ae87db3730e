"""The two sampling regimes: SB3's (dsace, dsact) and the papers' (dsace_paper, dsact_paper), in the API and the zoo."""

import math

import numpy as np
import optuna
import pytest

from sb3_tecrl import DSACE, DSACT, env_steps_for, make_model
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_entry, hyperparams_path
from sb3_tecrl.zoo.hyperparams_opt import converter_for, sampler_for, sampling_schedule

TINY = dict(policy_kwargs=dict(net_arch=[16, 16]), batch_size=32, buffer_size=5_000, device="cpu")
PAPER_TASKS = [
    "Humanoid-v3",
    "Ant-v3",
    "HalfCheetah-v3",
    "Walker2d-v3",
    "Hopper-v3",
    "Swimmer-v3",
    "InvertedDoublePendulum-v2",
    "Reacher-v2",
    "Pusher-v2",
]


@pytest.mark.parametrize("name, algo", [("dsace_paper", DSACE), ("dsact_paper", DSACT)])
def test_paper_regime_makes_one_gradient_step_per_20_env_steps(name, algo):
    model = make_model(name, "Pendulum-v1", seed=0, learning_starts=200, **TINY)
    assert type(model) is algo and model.n_envs == 20 and model.warmup_actions == "policy"
    total = env_steps_for(model, gradient_steps=40)
    assert total == 200 + 40 * 20
    model.learn(total)
    assert model.num_timesteps == total
    assert model._n_updates == 40  # (1000 - 200) env steps / 20 per gradient step


def test_env_steps_for_counts_sb3s_update_schedule():
    # 1:1 with a 10k warm-up: updates start at step 10,001
    model = make_model("dsace", "Pendulum-v1", learning_starts=10_000, **TINY)
    assert env_steps_for(model, 5) == 10_005
    # the official budget: 1.5M gradient steps are 30M environment steps after the warm-up
    paper = make_model("dsace_paper", "Pendulum-v1", **TINY)
    assert (
        env_steps_for(paper, 1_500_000)
        == 30_010_000
        == hyperparams_entry(hyperparams_path("dsace_paper"), "Ant-v3")["n_timesteps"]
    )


@pytest.mark.parametrize("warmup_actions, uniform_samples", [("uniform", True), ("policy", False)])
def test_warmup_actions_come_from_the_initial_policy_when_asked(warmup_actions, uniform_samples, monkeypatch):
    model = DSACE("MlpPolicy", "Pendulum-v1", learning_starts=1_000, warmup_actions=warmup_actions, seed=0, **TINY)
    sampled, predicted = [], []
    original_predict = model.predict
    monkeypatch.setattr(model.action_space, "sample", lambda *a, **k: sampled.append(1) or np.zeros(1, np.float32))
    monkeypatch.setattr(model, "predict", lambda *a, **k: predicted.append(k) or original_predict(*a, **k))
    model.learn(50)  # all within the warm-up
    assert bool(sampled) is uniform_samples and bool(predicted) is not uniform_samples
    assert all(call.get("deterministic") is False for call in predicted)  # the stochastic policy


@pytest.mark.parametrize("task", PAPER_TASKS)
@pytest.mark.parametrize("name", ["dsace_paper", "dsact_paper"])
def test_every_paper_task_has_the_official_settings(name, task):
    family = task.rsplit("-", 1)[0]
    path = hyperparams_path(name)
    for env_id in (task, f"{family}-v4", f"{family}-v5"):
        entry = hyperparams_entry(path, env_id)
        assert (entry["n_envs"], entry["train_freq"], entry["gradient_steps"]) == (20, 1, 1)
        assert (entry["learning_starts"], entry["warmup_actions"], entry["policy_delay"]) == (10_000, "policy", 2)
        assert float(entry["ent_coef"].removeprefix("auto_")) == pytest.approx(math.e)
        assert entry["gamma"] == (0.999 if family == "Hopper" else 0.99)
        if name == "dsace_paper":
            assert entry["rho"] == (20 if family in ("Humanoid", "Walker2d") else 1)


@pytest.mark.parametrize("name", ["dsace", "dsact", "dsace_paper", "dsact_paper"])
def test_every_zoo_entry_starts_alpha_at_e(name):
    import yaml

    entries = yaml.safe_load(hyperparams_path(name).read_text())
    for env_id in entries:
        assert float(algorithm_kwargs(hyperparams_path(name), env_id)["ent_coef"].removeprefix("auto_")) == pytest.approx(
            math.e
        ), env_id


def test_make_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="dsace_paper"):
        make_model("sac", "Pendulum-v1")


@pytest.mark.parametrize(
    "ratio, n_envs, schedule", [(1, 1, (1, 1)), (20, 1, (20, 1)), (20, 20, (1, 1)), (1, 20, (1, 20)), (10, 20, (1, 2))]
)
def test_sampling_schedule_gives_the_ratio(ratio, n_envs, schedule):
    train_freq, gradient_steps = sampling_schedule(ratio, n_envs)
    assert (train_freq, gradient_steps) == schedule
    assert n_envs * train_freq / gradient_steps == ratio


@pytest.mark.parametrize("name, n_envs", [("dsace", 1), ("dsace_paper", 20)])
def test_optuna_sampler_searches_the_sampling_ratio_and_bounds_gamma(name, n_envs):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    additional_args = {"using_her_replay_buffer": False, "her_kwargs": {}}
    for _ in range(30):
        trial = study.ask()
        params = sampler_for(DSACE)(trial, 1, n_envs, additional_args)
        assert 0.97 <= params["gamma"] <= 0.999
        ratio = trial.params["env_steps_per_gradient_step"]
        assert n_envs * params["train_freq"] / params["gradient_steps"] == ratio
        # a stored trial maps back to the same keyword arguments
        converted = converter_for(name)(trial.params)
        assert (converted["train_freq"], converted["gradient_steps"]) == (params["train_freq"], params["gradient_steps"])
        study.tell(trial, 0.0)
