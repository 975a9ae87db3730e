"""
A short DSAC-E training on Pendulum-v1 (no download needed), with a progress bar and a printed result: the
deterministic return of the untrained policy and of the trained one (higher is better; about -150 is solved).

Usage: ``python -m sb3_tecrl.demo [--steps 8000] [--seed 0] [--algo dsace|dsact] [--eval-episodes 10] [--threads 1]``
"""

import argparse

import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_tecrl.regimes import make_model

ENV_ID = "Pendulum-v1"
# Pendulum-v1's scale: an untrained policy scores about -1200 to -1700, a solved one about -150 (0 is the maximum)
SOLVED_RETURN = -150


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=8000, help="environment steps to train for")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algo", choices=["dsace", "dsact"], default="dsace")
    parser.add_argument("--eval-episodes", type=positive_int, default=10, help="episodes of each evaluation")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: a second thread gains at most about 1.5x on an idle machine, and runs about 3x slower "
        "when another process keeps a core busy)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    th.set_num_threads(args.threads)
    # the shipped zoo settings for Pendulum-v1: a short warm-up and SAC-zoo-like learning rates
    model = make_model(args.algo, ENV_ID, seed=args.seed)
    untrained = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    model.learn(args.steps, progress_bar=True)
    trained = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    print(
        f"{type(model).__name__} on {ENV_ID}, deterministic return over {args.eval_episodes} episodes "
        f"(higher is better: untrained policies score about -1200 to -1700, about {SOLVED_RETURN} is solved):"
    )
    for name, (mean, std) in (("untrained", untrained), (f"after {args.steps} steps", trained)):
        print(f"  {name + ':':<22}{mean:8.1f} +/- {std:.1f}")


if __name__ == "__main__":
    main()
