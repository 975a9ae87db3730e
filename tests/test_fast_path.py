"""The fast update path computes what a plain reference path computes: same losses, same gradients, same updates."""

import copy
import inspect
import math
import threading
import warnings

import pytest
import torch as th
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import polyak_update, set_random_seed
from torch import nn

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.common.torch_layers import EnsembleMLP
from sb3_tecrl.dsace.dsace import AUTO_COMPILE_AFTER


def separate_mlps(ensemble: EnsembleMLP) -> list[nn.Sequential]:
    """The plain reference: one ``nn.Sequential`` of ``nn.Linear`` per member, with the ensemble's weights."""
    mlps = []
    for member in range(ensemble.n_members):
        layers: list[nn.Module] = []
        for index, stacked in enumerate(ensemble.layers):
            linear = nn.Linear(*stacked.weight.shape[1:])
            linear.weight.data.copy_(stacked.weight.data[member].T)
            linear.bias.data.copy_(stacked.bias.data[member, 0])
            layers.append(linear)
            if index < len(ensemble.layers) - 1:
                layers.append(copy.deepcopy(ensemble.activation))
        mlps.append(nn.Sequential(*layers))
    return mlps


@pytest.mark.parametrize("net_arch", [[16, 16], []])
def test_ensemble_matches_separate_mlps_forward_and_backward(net_arch):
    """With hidden layers the output layer computes its product transposed; without, on the shared 2-D input."""
    th.manual_seed(0)
    ensemble = EnsembleMLP(3, 6, 2, net_arch, nn.GELU)
    reference = separate_mlps(ensemble)
    x = th.randn(32, 6, requires_grad=True)
    out = ensemble(x)
    ref_out = th.stack([mlp(x) for mlp in reference])
    assert th.allclose(out, ref_out, atol=1e-6)

    weights = th.randn_like(out)
    (grad_x,) = th.autograd.grad((out * weights).sum(), x, retain_graph=True)
    (ref_grad_x,) = th.autograd.grad((ref_out * weights).sum(), x, retain_graph=True)
    assert th.allclose(grad_x, ref_grad_x, atol=1e-6)
    (out * weights).sum().backward()
    (ref_out * weights).sum().backward()
    for member, mlp in enumerate(reference):
        linears = [m for m in mlp if isinstance(m, nn.Linear)]
        for stacked, linear in zip(ensemble.layers, linears, strict=True):
            assert th.allclose(stacked.weight.grad[member].T, linear.weight.grad, atol=1e-5)
            assert th.allclose(stacked.bias.grad[member, 0], linear.bias.grad, atol=1e-5)


def test_frozen_evaluation_gives_gradients_to_the_input_only():
    ensemble = EnsembleMLP(2, 4, 2, [8], nn.ReLU)
    x = th.randn(5, 4, requires_grad=True)
    ensemble(x, frozen=True).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in ensemble.parameters())
    assert th.allclose(ensemble(x, frozen=True), ensemble(x))


def prepared(algo) -> DSACE:
    model = algo("MlpPolicy", "Pendulum-v1", learning_starts=1_000, batch_size=32, policy_kwargs=dict(net_arch=[32, 32]))
    model.learn(200)
    model.set_logger(configure(None, []))
    return model


def grads(module: nn.Module) -> list[th.Tensor]:
    return [p.grad.clone() if p.grad is not None else th.zeros_like(p) for p in module.parameters()]


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_single_backward_equals_separate_backward_passes(algo):
    """Our step back-propagates the sum of all losses once; SAC's way is one backward per loss, critics not frozen."""
    model = prepared(algo)
    set_random_seed(3)
    replay_data = model.replay_buffer.sample(32)
    ent_coef = model._current_ent_coef()
    ema = model.critic_std_ema.clone()

    def losses(frozen_critic: bool):
        model.critic_std_ema = ema.clone()
        th.manual_seed(11)
        features = model.critic.features(replay_data.observations)
        critic_losses, _ = model._critic_losses(replay_data, features, ent_coef)
        if frozen_critic:
            actor_losses, _ = model._actor_and_temperature_losses(replay_data, features.detach(), ent_coef)
            return critic_losses, actor_losses
        # reference: the actor's loss through the critics' own (trainable) weights, as SAC computes it
        original = model.critic.evaluate
        model.critic.evaluate = lambda f, a, frozen=False: original(f, a, frozen=False)
        try:
            actor_losses, _ = model._actor_and_temperature_losses(replay_data, features.detach(), ent_coef)
        finally:
            model.critic.evaluate = original
        return critic_losses, actor_losses

    modules = (model.critic, model.actor)
    for module in modules:
        module.zero_grad()
    model.log_ent_coef.grad = None
    critic_losses, actor_losses = losses(frozen_critic=True)
    th.stack([*critic_losses.values(), *actor_losses.values()]).sum().backward()
    fast = [grads(m) for m in modules] + [model.log_ent_coef.grad.clone()]

    ref_critic_losses, ref_actor_losses = losses(frozen_critic=False)
    for module in modules:
        module.zero_grad()
    model.log_ent_coef.grad = None
    sum(ref_critic_losses.values()).backward()
    critic_ref = grads(model.critic)
    model.critic.zero_grad()
    ref_actor_losses["actor_loss"].backward()
    actor_ref = grads(model.actor)
    ref_actor_losses["ent_coef_loss"].backward()

    for key in critic_losses:
        assert th.allclose(critic_losses[key], ref_critic_losses[key])
    assert all(th.allclose(a, b, atol=1e-6) for a, b in zip(fast[0], critic_ref, strict=True))
    assert all(th.allclose(a, b, atol=1e-6) for a, b in zip(fast[1], actor_ref, strict=True))
    assert th.allclose(fast[2], model.log_ent_coef.grad)


def test_default_fused_adam_steps_like_plain_adam():
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]))
    assert model.critic.optimizer.defaults["fused"] is True
    params = [p.detach().clone().requires_grad_(True) for p in model.critic.parameters()]
    plain = th.optim.Adam(params, lr=1e-3)
    fused = th.optim.Adam(model.critic.parameters(), lr=1e-3, fused=True)
    for _ in range(3):
        for p, q in zip(params, model.critic.parameters(), strict=True):
            p.grad = th.randn_like(p)
            q.grad = p.grad.clone()
        plain.step()
        fused.step()
    assert all(th.allclose(p, q, atol=1e-6) for p, q in zip(params, model.critic.parameters(), strict=True))


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_the_steps_with_the_default_fused_adam_update_like_plain_adam(algo):
    """
    The step hands each optimizer gradients laid out like their parameters: torch's fused Adam (CPU) reads a gradient
    as if it were, and the transposed output product gives its weight a transposed gradient (before the fix, the
    critics' output layers took wrong updates).
    """
    models = {}
    for name, optimizer_kwargs in (("fused", {}), ("plain", dict(fused=False, foreach=False))):
        set_random_seed(0)
        model = algo("MlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, seed=0,
                     policy_kwargs=dict(net_arch=[16, 16], optimizer_kwargs=optimizer_kwargs))  # fmt: skip
        model.learn(100)
        set_random_seed(1)
        model.set_logger(configure(None, []))
        model.train(gradient_steps=3, batch_size=32)
        models[name] = model
    assert models["fused"].critic.optimizer.defaults["fused"] and not models["plain"].critic.optimizer.defaults["fused"]
    for parameter in models["fused"].policy.parameters():
        assert parameter.grad is None or parameter.grad.stride() == parameter.stride()
    fused, plain = (dict(models[name].policy.named_parameters()) for name in ("fused", "plain"))
    for name, parameter in fused.items():
        assert th.allclose(parameter, plain[name], atol=1e-5), name


def test_foreach_lerp_target_update_equals_polyak_update():
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), tau=0.1)
    with th.no_grad():
        for p in [*model.critic.parameters(), *model.actor.parameters()]:
            p.add_(th.randn_like(p))
    reference = [p.clone() for p in [*model.critic_target.parameters(), *model.actor_target.parameters()]]
    polyak_update([*model.critic.parameters(), *model.actor.parameters()], reference, 0.1)
    model._update_targets()
    updated = [*model.critic_target.parameters(), *model.actor_target.parameters()]
    assert all(th.allclose(a, b, atol=1e-7) for a, b in zip(updated, reference, strict=True))


def relative_error(value: th.Tensor, reference: th.Tensor) -> float:
    return float((value - reference).detach().norm() / reference.detach().norm())


def test_bfloat16_hidden_matmuls_match_float32_within_bfloat16_tolerance():
    """bfloat16 inputs of the hidden layers' products (8-bit mantissa): outputs and gradients within a few 1e-3."""
    th.manual_seed(0)
    ensemble = EnsembleMLP(3, 14, 2, [256, 256, 256], nn.GELU)
    fast = copy.deepcopy(ensemble)
    for layer in fast.layers[:-1]:
        layer.matmul_dtype = th.bfloat16
    x = th.randn(256, 14)
    out, fast_out = ensemble(x), fast(x)
    assert fast_out.dtype == th.float32 and all(p.dtype == th.float32 for p in fast.parameters())
    assert 0.0 < relative_error(fast_out, out) < 1e-2  # not equal: the products did run in bfloat16
    weights = th.randn_like(out)
    (out * weights).sum().backward()
    (fast_out * weights).sum().backward()
    for reference, param in zip(ensemble.parameters(), fast.parameters(), strict=True):
        assert param.grad.dtype == th.float32
        assert relative_error(param.grad, reference.grad) < 3e-2


def test_output_layer_stays_float32_and_computes_its_product_transposed():
    mlp = EnsembleMLP(3, 6, 2, [16, 16], nn.GELU, hidden_matmul_dtype=th.bfloat16)
    assert [layer.matmul_dtype for layer in mlp.layers] == [th.bfloat16, th.bfloat16, None]
    assert [layer.transposed for layer in mlp.layers] == [False, False, True]
    out = mlp(th.randn(5, 6))
    assert out.shape == (3, 5, 2) and out.mT.is_contiguous()  # the transposed product's view


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_bfloat16_step_computes_the_float32_losses_and_gradients_within_tolerance(algo, monkeypatch):
    """The same model, data and noise in both precisions: every loss and every gradient agree to bfloat16 accuracy."""
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: True)
    kwargs = dict(learning_starts=1_000, batch_size=256, seed=0)
    models = {precision: algo("MlpPolicy", "Pendulum-v1", matmul_precision=precision, **kwargs) for precision in
              ("float32", "bfloat16")}  # fmt: skip
    reference, fast = models["float32"], models["bfloat16"]
    assert fast.critic.q_net.layers[0].matmul_dtype == th.bfloat16 and reference.critic.q_net.layers[0].matmul_dtype is None
    fast.policy.load_state_dict(reference.policy.state_dict())
    reference.learn(300)
    replay_data = reference.replay_buffer.sample(256)
    results = {}
    for precision, model in models.items():
        model.policy.zero_grad()
        th.manual_seed(11)
        features = model.critic.features(replay_data.observations)
        losses, _ = model._critic_losses(replay_data, features, model._current_ent_coef())
        actor_losses, _ = model._actor_and_temperature_losses(replay_data, features.detach(), model._current_ent_coef())
        losses.update(actor_losses)
        th.stack(list(losses.values())).sum().backward()
        results[precision] = losses, [p.grad.clone() for p in [*model.critic.parameters(), *model.actor.parameters()]]
    (losses, grads_32), (fast_losses, grads_16) = results["float32"], results["bfloat16"]
    assert losses.keys() == fast_losses.keys()
    for key, loss in losses.items():
        assert th.allclose(fast_losses[key], loss, rtol=2e-2, atol=1e-3), key
    for grad, fast_grad in zip(grads_32, grads_16, strict=True):
        assert relative_error(fast_grad, grad) < 5e-2


def test_bfloat16_falls_back_to_float32_without_native_support(monkeypatch):
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: False)
    model = DSACE("MlpPolicy", "Pendulum-v1", matmul_precision="bfloat16", learning_starts=10, batch_size=8)
    assert all(layer.matmul_dtype is None for layer in model.critic.q_net.layers)
    model.learn(20)


@pytest.mark.parametrize(
    ("native", "speedup", "expected"),
    [(True, 2.0, {"auto": th.bfloat16, "bfloat16": th.bfloat16}), (True, 0.6, {"auto": None, "bfloat16": th.bfloat16}),
     (False, None, {"auto": None, "bfloat16": None})],
)  # fmt: skip
def test_auto_precision_computes_in_bfloat16_only_where_its_products_are_native_and_measured_faster(
    monkeypatch, native, speedup, expected
):
    """
    The default, ``"auto"``, follows the measured speed-up of bfloat16 products (a CPU with AVX512-BF16 and no AMX ran
    them at about half the float32 rate); an explicit ``"bfloat16"`` keeps them wherever they are native.
    """
    from sb3_tecrl.common import torch_layers

    def measured(threads: int) -> float:
        assert speedup is not None, "the products are timed only where bfloat16 is native"
        return speedup

    monkeypatch.setattr(torch_layers, "bfloat16_matmul_supported", lambda device: native)
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: native)
    monkeypatch.setattr(torch_layers, "cpu_bfloat16_speedup", measured)
    assert inspect.signature(DSACE).parameters["matmul_precision"].default == "auto"
    for precision, dtype in expected.items():
        model = DSACE("MlpPolicy", "Pendulum-v1", matmul_precision=precision, policy_kwargs=dict(net_arch=[16]), device="cpu")
        assert model.actor.hidden_matmul_dtype == dtype, precision
        assert [layer.matmul_dtype for layer in model.critic.q_net.layers] == [dtype, None], precision


def test_the_bfloat16_speedup_is_timed_once_per_thread_count():
    from sb3_tecrl.common.torch_layers import cpu_bfloat16_speedup

    cpu_bfloat16_speedup.cache_clear()
    speedup = cpu_bfloat16_speedup(th.get_num_threads())
    assert 0.0 < speedup < math.inf
    assert cpu_bfloat16_speedup(th.get_num_threads()) == speedup and cpu_bfloat16_speedup.cache_info().misses == 1


def test_unknown_matmul_precision_is_rejected():
    with pytest.raises(ValueError, match="matmul_precision"):
        DSACE("MlpPolicy", "Pendulum-v1", matmul_precision="float16")


def test_bfloat16_option_survives_save_and_load(tmp_path, monkeypatch):
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: True)
    model = DSACE("MlpPolicy", "Pendulum-v1", matmul_precision="bfloat16", policy_kwargs=dict(net_arch=[16]), device="cpu")
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert loaded.matmul_precision == "bfloat16"
    assert [layer.matmul_dtype for layer in loaded.critic_target.q_net.layers] == [th.bfloat16, None]
    obs = th.randn(4, 3)
    actions = th.rand(4, 1) * 2 - 1
    assert th.equal(loaded.critic(obs, actions).mean, model.critic(obs, actions).mean)


def test_bfloat16_actor_computes_its_hidden_layers_in_bfloat16_and_its_heads_in_float32(monkeypatch):
    """The actor's trunk runs in bfloat16 (autocast), its mean and log-std heads and log-probabilities in float32."""
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: True)
    models = {precision: DSACE("MlpPolicy", "Pendulum-v1", matmul_precision=precision, seed=0, device="cpu")
              for precision in ("float32", "bfloat16")}  # fmt: skip
    reference, fast = models["float32"], models["bfloat16"]
    assert fast.actor.hidden_matmul_dtype == th.bfloat16 == fast.actor_target.hidden_matmul_dtype
    assert reference.actor.hidden_matmul_dtype is None
    fast.policy.load_state_dict(reference.policy.state_dict())
    obs = th.randn(256, 3)
    outputs = {}
    for precision, model in models.items():
        model.actor.zero_grad()
        mean, log_std, _ = model.actor.get_action_dist_params(obs)
        (mean.square().sum() + log_std.sum()).backward()
        outputs[precision] = mean, log_std, [p.grad.clone() for p in model.actor.parameters()]
    (mean, log_std, grads), (fast_mean, fast_log_std, fast_grads) = outputs["float32"], outputs["bfloat16"]
    assert fast_mean.dtype == fast_log_std.dtype == th.float32
    assert 0.0 < relative_error(fast_mean, mean) < 2e-2  # not equal: the trunk did run in bfloat16
    assert relative_error(fast_log_std, log_std) < 2e-2
    for grad, fast_grad in zip(grads, fast_grads, strict=True):
        assert fast_grad.dtype == th.float32 and relative_error(fast_grad, grad) < 5e-2


def small_model(**kwargs) -> DSACE:
    return DSACE("MlpPolicy", "Pendulum-v1", learning_starts=20, batch_size=16, policy_kwargs=dict(net_arch=[16]),
                 policy_delay=2, seed=3, device="cpu", **kwargs)  # fmt: skip


def no_compiler(function, **kwargs):
    """``torch.compile`` on a machine without a C++ compiler: the compiled function fails when called"""

    def fails(*args):
        raise RuntimeError("no C++ compiler found")

    return fails


def compiles_here() -> bool:
    from sb3_tecrl.common.compile import compiler_error

    return compiler_error(th.device("cpu")) is None


def is_eager(model: DSACE) -> bool:
    return getattr(model._losses_and_gradients, "__func__", None) is DSACE._losses_and_gradients


def test_compile_update_falls_back_to_the_eager_step_with_a_warning(monkeypatch):
    monkeypatch.setattr("sb3_tecrl.common.compile.th.compile", no_compiler)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler found.*runs eagerly"):
        model = small_model(compile_update=True)
    assert is_eager(model)
    model.learn(40)
    eager = small_model().learn(40)  # built after the other's run: each seeds the global generators when built
    for param, eager_param in zip(model.policy.parameters(), eager.policy.parameters(), strict=True):
        assert th.equal(param, eager_param)


def test_compiled_update_matches_the_eager_update(monkeypatch):
    """Both graphs (steps with and without the actor update) compile and give the eager step's parameters."""
    if not compiles_here():
        pytest.skip("torch.compile cannot compile on this machine (the fall-back is tested above)")
    monkeypatch.setattr("torch._inductor.config.fallback_random", True)  # the eager random streams, for comparison
    models = {compiled: small_model(compile_update=compiled).learn(26) for compiled in (False, True)}  # 6 gradient
    # steps: 3 with the actor update, 3 without
    assert not is_eager(models[True])
    for param, compiled_param in zip(models[False].policy.parameters(), models[True].policy.parameters(), strict=True):
        assert th.allclose(param, compiled_param, rtol=1e-4, atol=1e-5)
    assert models[True].logger.name_to_value["train/n_updates"] == 6


@pytest.mark.parametrize("activation", [nn.LeakyReLU, nn.ReLU, nn.GELU])
def test_the_compiled_bfloat16_ensemble_gives_the_eager_gradients_with_any_activation(activation):
    """
    With its first layer as a broadcast ``th.matmul``, the compiled bfloat16 ensemble gave its input (the actor's
    gradient through the frozen critics) a wrong gradient: NaN after a LeakyReLU, 4% off after a ReLU at these sizes
    (the GELU stayed within rounding). Compiled as the step is (``autograd.grad`` traced), it matches the eager gradient
    within bfloat16's rounding.
    """
    from sb3_tecrl.common.compile import compile_or_eager

    if not compiles_here():
        pytest.skip("torch.compile cannot compile on this machine (the fall-back is tested above)")
    th.manual_seed(0)
    mlp = EnsembleMLP(3, 4, 2, [64, 64], activation, hidden_matmul_dtype=th.bfloat16)
    x = th.randn(256, 4, requires_grad=True)

    def gradients(x: th.Tensor) -> tuple[th.Tensor, ...]:
        values = mlp(x, frozen=True)[..., 0].sum(dim=0)  # not the min over members, whose choice rounding can flip
        return th.autograd.grad(values.square().sum(), [x])

    th._dynamo.reset()
    compiled = compile_or_eager(gradients, th.device("cpu"), "test", trace_autograd=True)
    for eager, fast in zip(gradients(x), compiled(x), strict=True):
        assert fast.isfinite().all() and relative_error(fast, eager) < 2e-2


def test_the_compiled_step_is_one_graph_with_its_backward_pass():
    """Where torch traces ``autograd.grad``, each kind of step (with and without the actor update) is one graph."""
    from torch._dynamo.utils import counters

    if not compiles_here() or not hasattr(th._dynamo.config, "trace_autograd_ops"):
        pytest.skip("torch.compile cannot compile here, or this torch cannot trace autograd.grad (graph breaks then)")
    th._dynamo.reset()
    model = small_model(compile_update=True)
    counters.clear()  # after the compiler's probe
    model.learn(26)
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 2


def test_auto_compiles_after_its_threshold_and_a_loaded_model_past_it_at_its_first_step(monkeypatch, tmp_path):
    if not compiles_here():
        pytest.skip("torch.compile cannot compile on this machine (the silent fall-back is tested below)")
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.AUTO_COMPILE_AFTER", 4)
    model = small_model()  # compile_update="auto", the default
    model.learn(23)  # 3 gradient steps: below the threshold
    assert model.compile_update == "auto" and is_eager(model)
    model.learn(2, reset_num_timesteps=False)  # the 4th and 5th: the train() call after the 4th compiles
    assert model._n_updates == 5 and not is_eager(model)
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", env=model.get_env(), device="cpu")
    assert is_eager(loaded)  # nothing compiled is saved
    loaded.learn(1, reset_num_timesteps=False)
    assert not is_eager(loaded)


def test_auto_stays_eager_in_a_thread_and_before_its_threshold():
    model = small_model()
    model._n_updates = AUTO_COMPILE_AFTER - 1
    assert not model._auto_compile_due()
    model._n_updates = AUTO_COMPILE_AFTER
    assert model._auto_compile_due()
    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(model._auto_compile_due()))
    thread.start()
    thread.join()
    assert in_thread == [False]  # Optuna's n_jobs trials run in threads, and dynamo is not thread-safe
    assert not small_model(compile_update=False)._auto_compile_due() and not small_model()._step_compiled


def test_auto_falls_back_to_eager_silently_where_the_machine_cannot_compile(monkeypatch):
    monkeypatch.setattr("sb3_tecrl.common.compile.th.compile", no_compiler)
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.AUTO_COMPILE_AFTER", 2)
    model = small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user did not ask for a compilation: no warning
        model.learn(26)
    assert model._step_compiled and is_eager(model)
    eager = small_model(compile_update=False).learn(26)
    for param, eager_param in zip(model.policy.parameters(), eager.policy.parameters(), strict=True):
        assert th.equal(param, eager_param)
