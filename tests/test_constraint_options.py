"""
Options of the constraint study (issue 28), each checked by hand against the rule it states: the entropy critic's own
target rate (``entropy_tau``), dual ascent and the PID Lagrangian on the temperature (``temperature_update="dual"`` and
``"pid"``) and the annealed budget (``budget_schedule="anneal"``).
"""

import pytest
import torch as th
from helpers import parameters_of

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.common.temperature import PIDTemperature
from sb3_tecrl.common.warning_types import NoGradientStepWarning

TINY = dict(net_arch=[16])


def trained(**kwargs) -> DSACE:
    """A model after 30 steps, with the paper's trajectory entropy constraint unless ``kwargs`` turn it off."""
    params = dict(learning_starts=20, batch_size=16, buffer_size=2_000, policy_kwargs=dict(TINY), seed=0, device="cpu")
    params["trajectory_entropy_constraint"] = True
    model = DSACE("MlpPolicy", "Pendulum-v1", **{**params, **kwargs})
    model.learn(30)
    return model


@pytest.mark.parametrize("entropy_tau", [None, 0.0, 0.5, 1.0])
def test_the_entropy_critics_target_moves_at_entropy_tau_and_every_other_target_at_tau(entropy_tau):
    model = trained(tau=0.1, entropy_tau=entropy_tau, matmul_precision="float32")
    online, target = parameters_of(model.critic.q_net), parameters_of(model.critic_target.q_net)
    actor, actor_target = parameters_of(model.actor), parameters_of(model.actor_target)
    model._update_targets()
    entropy_rate = 0.1 if entropy_tau is None else entropy_tau
    for new, old, source in zip(model.critic_target.q_net.parameters(), target, online, strict=True):
        # the ensemble's last member is the entropy critic, the others the reward critics
        th.testing.assert_close(new[:-1], old[:-1] + 0.1 * (source[:-1] - old[:-1]))
        th.testing.assert_close(new[-1], old[-1] + entropy_rate * (source[-1] - old[-1]))
    for new, old, source in zip(model.actor_target.parameters(), actor_target, actor, strict=True):
        th.testing.assert_close(new, old + 0.1 * (source - old))


@pytest.mark.filterwarnings("ignore:.*n_steps:UserWarning")  # the n-step approximation of the entropy critic's target
@pytest.mark.parametrize("trajectory_entropy_constraint, n_steps", [(True, 1), (True, 3), (False, 1)])
def test_dual_ascent_steps_log_alpha_by_the_violation_in_per_step_units(trajectory_entropy_constraint, n_steps):
    lr, gamma = 0.01, 0.9
    model = trained(
        temperature_update="dual",
        ent_coef_learning_rate=lr,
        gamma=gamma,
        n_steps=n_steps,
        trajectory_entropy_constraint=trajectory_entropy_constraint,
    )
    assert isinstance(model.ent_coef_optimizer, th.optim.SGD)
    before = model.log_ent_coef.item()
    stats = model._gradient_step(model.replay_buffer.sample(16), update_actor=True)
    if trajectory_entropy_constraint:  # the trajectory violation divided by the horizon 1 / (1 - gamma^n)
        violation = (1.0 - gamma**n_steps) * (stats["trajectory_entropy"].item() - model.temperature_target)
    else:
        violation = stats["entropy"].item() - model.temperature_target
    assert model.log_ent_coef.item() - before == pytest.approx(-lr * violation, rel=1e-4, abs=1e-9)


def test_adam_steps_log_alpha_by_its_learning_rate_whatever_the_violation():
    model = DSACE("MlpPolicy", "Pendulum-v1", learning_starts=20, batch_size=16, policy_kwargs=dict(TINY), seed=0)
    model.learn(21)  # the temperature's first Adam step: lr times the sign of the violation
    assert abs(model.log_ent_coef.item()) == pytest.approx(3e-4, rel=1e-3)


def test_the_options_survive_save_and_load(tmp_path):
    model = trained(entropy_tau=0.5, temperature_update="dual")
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert (loaded.entropy_tau, loaded.temperature_update) == (0.5, "dual")
    assert isinstance(loaded.ent_coef_optimizer, th.optim.SGD) and loaded.log_ent_coef.item() == model.log_ent_coef.item()
    assert [rate.flatten().tolist() for rate in loaded._target_rates] == [
        rate.flatten().tolist() for rate in model._target_rates
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature_update="sgd"), "temperature_update"),
        (dict(entropy_tau=-0.1), "entropy_tau"),
        (dict(entropy_tau=1.5), "entropy_tau"),
        (dict(entropy_tau=0.5, separate_entropy_critic=False, trajectory_entropy_constraint=False), "separate_entropy_critic"),
        (dict(budget_schedule="adaptive"), "budget_schedule"),
        (dict(budget_schedule="anneal", ent_coef=0.1), "ent_coef='auto'"),
        (dict(temperature_update="pid", ent_coef=0.1), "ent_coef='auto'"),
        (dict(temperature_update="dual", ent_coef=0.1), "ent_coef='auto'"),
        (dict(temperature_pid_gains=(1.0, 0.0)), "temperature_update='pid'"),
        (dict(temperature_update="pid", temperature_pid_gains=(-1.0, 0.0)), "kp"),
        (dict(temperature_update="pid", temperature_pid_gains=(1.0, float("nan"))), "kd"),
        (dict(temperature_update="pid", temperature_pid_gains=(1.0,)), r"pair \(kp, kd\)"),
    ],
)
def test_bad_option_values_are_rejected_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DSACE("MlpPolicy", "Pendulum-v1", **kwargs)


def test_dsact_has_no_entropy_critic_rate_but_takes_dual_ascent():
    with pytest.raises(TypeError, match="entropy_tau"):
        DSACT("MlpPolicy", "Pendulum-v1", entropy_tau=0.5)
    assert isinstance(DSACT("MlpPolicy", "Pendulum-v1", temperature_update="dual").ent_coef_optimizer, th.optim.SGD)


def test_the_annealed_budget_starts_at_the_first_estimate_and_moves_only_while_it_is_met():
    model = DSACE("MlpPolicy", "Pendulum-v1", budget_schedule="anneal", learning_starts=100, policy_kwargs=dict(TINY), seed=0)
    assert model.annealed_budget.isnan() and model.constraint_estimate_average.isnan()
    with pytest.warns(NoGradientStepWarning):
        model.learn(100)  # warm-up only: no gradient step yet
    final = model.temperature_target
    stats = model._gradient_step(model.replay_buffer.sample(64), update_actor=True)
    first = stats[model._estimate_key()].item()
    assert stats["entropy_budget"].item() == pytest.approx(first)  # the first budget: the first estimate
    model._anneal_budget(stats)  # met (the average is that estimate): 1% of the way to the configured budget
    assert model.constraint_estimate_average.item() == pytest.approx(first)
    assert model.annealed_budget.item() == pytest.approx(first + 0.01 * (final - first), rel=1e-5)
    # the average far from the budget (more than 0.1 nat per step, 10 trajectory units at gamma 0.99): not met, no move
    model.constraint_estimate_average.fill_(model.annealed_budget.item() + 1_000.0)
    stats = model._gradient_step(model.replay_buffer.sample(64), update_actor=True)
    before = model.annealed_budget.item()
    model._anneal_budget(stats)
    assert model.annealed_budget.item() == pytest.approx(before)


@pytest.mark.parametrize("compile_update", [False, True])
def test_alpha_is_tuned_against_the_current_annealed_budget(compile_update):
    lr, gamma = 0.01, 0.99
    model = trained(
        budget_schedule="anneal",
        temperature_update="dual",
        ent_coef_learning_rate=lr,
        gamma=gamma,
        compile_update=compile_update,
        matmul_precision="float32",
    )
    data = model.replay_buffer.sample(16)
    for budget in (5.0, -50.0):  # a change of the budget reaches the (compiled) step
        model.annealed_budget.fill_(budget)
        before = model.log_ent_coef.item()
        stats = model._gradient_step(data, update_actor=True)
        violation = (1.0 - gamma) * (stats[model._estimate_key()].item() - budget)
        assert stats["entropy_budget"].item() == budget
        assert model.log_ent_coef.item() - before == pytest.approx(-lr * violation, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize(
    "constraint", [{}, dict(constraint_states="initial"), dict(trajectory_entropy_constraint=False)], ids=str
)
def test_the_estimate_key_names_the_batch_mean_alpha_is_tuned_on(constraint):
    lr = 0.01
    model = trained(temperature_update="dual", ent_coef_learning_rate=lr, matmul_precision="float32", **constraint)
    before = model.log_ent_coef.item()
    stats = model._gradient_step(model.replay_buffer.sample(16), update_actor=True)
    violation = model._per_step_scale() * (stats[model._estimate_key()].item() - model.temperature_target)
    assert model.log_ent_coef.item() - before == pytest.approx(-lr * violation, rel=1e-4, abs=1e-9)


def test_the_annealed_budget_is_logged_learned_and_restored_by_load(tmp_path):
    model = trained(budget_schedule="anneal")
    budget, average = model.annealed_budget.item(), model.constraint_estimate_average.item()
    assert model.logger.name_to_value["train/entropy_budget_final"] == model.temperature_target
    assert model.logger.name_to_value["train/entropy_budget"] != model.temperature_target
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert loaded.budget_schedule == "anneal"
    assert (loaded.annealed_budget.item(), loaded.constraint_estimate_average.item()) == (budget, average)


@pytest.mark.parametrize("trajectory_entropy_constraint", [True, False])
def test_the_pid_temperatures_first_step_adds_kp_and_ki_times_the_per_step_violation(trajectory_entropy_constraint):
    lr, kp, gamma = 0.01, 2.0, 0.9
    with pytest.warns(NoGradientStepWarning):  # no gradient step before the one below
        model = trained(
            temperature_update="pid",
            temperature_pid_gains=(kp, 0.0),
            ent_coef_learning_rate=lr,
            gamma=gamma,
            learning_starts=30,
            trajectory_entropy_constraint=trajectory_entropy_constraint,
        )
    assert isinstance(model.ent_coef_optimizer, PIDTemperature)
    stats = model._gradient_step(model.replay_buffer.sample(16), update_actor=True)
    violation = model._per_step_scale() * (model.temperature_target - stats[model._estimate_key()].item())
    assert model.log_ent_coef.item() == pytest.approx((kp + lr) * violation, rel=1e-4, abs=1e-9)  # from log(1) = 0


def test_the_pid_temperature_without_kp_and_kd_follows_dual_ascent():
    dual = trained(temperature_update="dual", ent_coef_learning_rate=0.01, matmul_precision="float32")
    pid = trained(
        temperature_update="pid", temperature_pid_gains=(0.0, 0.0), ent_coef_learning_rate=0.01, matmul_precision="float32"
    )
    assert dual.log_ent_coef.item() != 0.0
    assert pid.log_ent_coef.item() == pytest.approx(dual.log_ent_coef.item(), rel=1e-5)


def test_the_pid_temperatures_state_survives_save_and_load(tmp_path):
    model = trained(temperature_update="pid", temperature_pid_gains=(0.5, 0.2), matmul_precision="float32")
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert tuple(loaded.temperature_pid_gains) == (0.5, 0.2) and isinstance(loaded.ent_coef_optimizer, PIDTemperature)
    state, loaded_state = (next(iter(m.ent_coef_optimizer.state.values())) for m in (model, loaded))
    assert {key: value.item() for key, value in loaded_state.items()} == {key: value.item() for key, value in state.items()}
    data = model.replay_buffer.sample(16)
    for algorithm in (model, loaded):  # the same batch and action noise: the same next temperature
        th.manual_seed(0)
        algorithm._gradient_step(data, update_actor=True)
    assert loaded.log_ent_coef.item() == model.log_ent_coef.item()
