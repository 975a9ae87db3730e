"""
The two sampling regimes, one name apart in the RL Zoo and in the API.

- ``dsace`` / ``dsact``: SB3's convention, one environment step per gradient step (``hyperparams/dsace.yml``).
- ``dsace_paper`` / ``dsact_paper``: the papers' regime, from the official DSAC-T MuJoCo script
  (``hyperparams/dsace_paper.yml``): 20 vectorised environments with one batched policy forward and one gradient step
  per vector step (20 environment steps per gradient step), a 10k-transition warm-up from the initial stochastic
  policy, alpha starting at e, 1.5M gradient steps (30M environment steps).

In the zoo: ``python -m rl_zoo3.train --algo dsace_paper --env Ant-v3``. In Python::

    from sb3_tecrl import make_model, env_steps_for

    model = make_model("dsace_paper", "Ant-v4", seed=0)
    model.learn(env_steps_for(model, gradient_steps=50_000))  # 1,010,000 environment steps

Budgets: SB3's ``learn(total_timesteps)`` counts environment steps; :func:`env_steps_for` converts a number of
gradient steps into them for a model's sampling schedule.
"""

from typing import TYPE_CHECKING, Any

from sb3_tecrl.zoo.hyperparams import ZOO_ONLY_KEYS, algorithm_kwargs, hyperparams_entry, hyperparams_path

if TYPE_CHECKING:
    from sb3_tecrl.dsace import DSACE


def zoo_names() -> dict[str, type["DSACE"]]:
    """:return: the zoo names of the algorithms in both regimes and their classes"""
    from sb3_tecrl import DSACE, DSACT

    return {"dsace": DSACE, "dsact": DSACT, "dsace_paper": DSACE, "dsact_paper": DSACT}


def n_envs_of(name: str, env_id: str = "default") -> int:
    """:return: the number of environments of a zoo name's entry for ``env_id`` (1 when the file sets none)"""
    return int(hyperparams_entry(hyperparams_path(name), env_id).get("n_envs", 1))


def make_model(name: str, env_id: str, seed: int | None = None, vec_env_cls: type | None = None, **overrides: Any) -> "DSACE":
    """
    DSACE or DSACT with the shipped zoo settings of ``name`` for ``env_id`` (or the file's ``default`` entry),
    on ``n_envs`` environments made with SB3's ``make_vec_env``, as ``python -m rl_zoo3.train --algo <name>`` would.

    :param name: ``"dsace"``, ``"dsact"`` (SB3's regime), ``"dsace_paper"`` or ``"dsact_paper"`` (the papers')
    :param env_id: a Gymnasium id
    :param seed: seed of the model and the environments
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``
    :param overrides: keyword arguments of the algorithm that replace the file's
    :return: the model, ready to ``learn``
    """
    from stable_baselines3.common.env_util import make_vec_env

    algos = zoo_names()
    if name not in algos:
        raise ValueError(f"Unknown name {name!r}: use one of {sorted(algos)}.")
    path = hyperparams_path(name)
    entry = hyperparams_entry(path, env_id)
    unsupported = sorted(set(entry) & set(ZOO_ONLY_KEYS) - {"n_timesteps", "n_envs", "policy"})
    if unsupported:
        raise ValueError(f"The {name} entry of {env_id} uses {unsupported}: train it with the RL Zoo instead.")
    env = make_vec_env(env_id, n_envs=n_envs_of(name, env_id), seed=seed, vec_env_cls=vec_env_cls)
    kwargs = {**algorithm_kwargs(path, env_id), **overrides}
    return algos[name](entry.get("policy", "MlpPolicy"), env, seed=seed, **kwargs)


def env_steps_for(model: "DSACE", gradient_steps: int) -> int:
    """
    The ``total_timesteps`` of ``learn`` that makes ``gradient_steps`` gradient steps after the warm-up, for the
    model's environments and its ``train_freq`` (in steps) and ``gradient_steps``.

    :param model: a freshly built model (``num_timesteps == 0``)
    :param gradient_steps: the budget in gradient steps
    :return: the budget in environment steps: the warm-up plus ``gradient_steps`` times the environment steps per
        gradient step (whole updates)
    """
    env_steps_per_update = model.n_envs * model.train_freq.frequency
    updates = -(-gradient_steps // model.gradient_steps)  # ceil
    warmup_updates = model.learning_starts // env_steps_per_update  # updates start once num_timesteps > learning_starts
    return (warmup_updates + updates) * env_steps_per_update
