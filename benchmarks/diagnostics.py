"""
Entropy diagnostics of DSAC-E: does the entropy critic Q_e track the realised discounted future entropy?

``entropy_tracking`` runs one stochastic episode and compares, step by step, ``Q_e(s_t, a_t)`` with the realised
``sum_{k >= 1} gamma^k (-log pi(a_{t+k} | s_{t+k}))`` (in the model's ``entropy_units``). So that the realised sum
is not cut short by the time limit, the episode runs ``horizon`` steps past the usual limit, and only steps with at
least ``horizon`` steps after them count (all steps count when the episode terminates: a termination has no future entropy).
``plot_run`` draws alpha, per-step entropy, trajectory entropy against the budget, and Q_e against the realised
entropy from a run's result files:

    python -m benchmarks.diagnostics --panel short --task Pendulum-v1 --algo DSAC-E --seed 0
"""

import argparse
import math

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch as th

from benchmarks.panel import PANELS, read_rows, result_path, stored_as
from sb3_tecrl import DSACE

# Residual weight of the discounted sum beyond the horizon
RESIDUAL = 0.01


def discounted_future_sum(values: np.ndarray, gamma: float) -> np.ndarray:
    """:return: ``out[t] = sum_{k >= 1} gamma^k values[t + k]`` within the array"""
    out = np.zeros_like(values)
    for t in range(len(values) - 2, -1, -1):
        out[t] = gamma * (values[t + 1] + out[t + 1])
    return out


def entropy_tracking(model: DSACE, env: gym.Env) -> dict[str, float]:
    """
    One stochastic episode of ``model`` on a copy of ``env`` with a longer time limit.

    :return: mean ``Q_e``, mean realised discounted entropy, mean step entropy, number of steps compared
    """
    spec = env.spec
    horizon = math.ceil(math.log(RESIDUAL) / math.log(model.gamma))
    long_env = gym.make(spec.id, max_episode_steps=(spec.max_episode_steps or 1000) + horizon)
    obs, _ = long_env.reset(seed=int(model.num_timesteps))
    step_entropy, q_e = [], []
    terminated = truncated = False
    while not (terminated or truncated):
        obs_tensor = th.as_tensor(obs, dtype=th.float32).unsqueeze(0)
        with th.no_grad():
            action, log_prob = model.sample_actions(obs_tensor)
            q_e.append(model.critic(obs_tensor, action).entropy.item())
        step_entropy.append(-log_prob.item())
        obs, _, terminated, truncated, _ = long_env.step(model.policy.unscale_action(action.numpy()[0]))
    realised = discounted_future_sum(np.array(step_entropy), model.gamma)
    valid = len(step_entropy) if terminated else max(len(step_entropy) - horizon, 1)
    return dict(
        q_e=float(np.mean(q_e[:valid])),
        realised=float(np.mean(realised[:valid])),
        step_entropy=float(np.mean(step_entropy)),
        steps=float(valid),
    )


def plot_run(task: str, algo: str, seed: int, panel: str = "short") -> str:
    """Draw the four diagnostics of one run into ``<panel results>/<task>/<algo>/seed<N>_diagnostics.png``."""
    panel, algo = stored_as(panel, algo)
    train = read_rows(result_path(task, algo, seed, "_train", panel))
    tracking = read_rows(result_path(task, algo, seed, "_entropy", panel))
    steps = [row["time/total_timesteps"] for row in train]
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    panels = [
        ("alpha", [("train/ent_coef", "alpha")]),
        ("per-step entropy", [("train/entropy", "-log pi")]),
        ("trajectory entropy", [("train/trajectory_entropy", "-log pi + Q_e"), ("train/entropy_budget", "budget")]),
    ]
    for axis, (title, series) in zip(axes, panels, strict=False):
        for key, label in series:
            pairs = [(s, row[key]) for s, row in zip(steps, train, strict=True) if key in row and not math.isnan(row[key])]
            if pairs:
                axis.plot(*zip(*pairs, strict=True), label=label)
        axis.set_title(title)
        axis.set_xlabel("environment steps")
        axis.legend()
    axes[0].set_yscale("log")  # Adam moves log(alpha) by about its learning rate per update: a straight line
    axis = axes[3]
    axis.plot([row["timesteps"] for row in tracking], [row["q_e"] for row in tracking], "o-", label="Q_e(s, a)")
    axis.plot([row["timesteps"] for row in tracking], [row["realised"] for row in tracking], "s--", label="realised")
    axis.set_title("Q_e vs realised discounted entropy")
    axis.set_xlabel("environment steps")
    axis.legend()
    fig.suptitle(f"{algo} on {task}, seed {seed} (panel {panel})")
    fig.tight_layout()
    path = result_path(task, algo, seed, "_diagnostics", panel).with_suffix(".png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panel", default="short", choices=list(PANELS))
    parser.add_argument("--task", default="Pendulum-v1")
    parser.add_argument("--algo", default="DSAC-E")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(plot_run(args.task, args.algo, args.seed, args.panel))


if __name__ == "__main__":
    main()
