"""
A short DSAC-E training on Pendulum-v1 (no download needed), with a progress bar and a printed result: the
deterministic return of the untrained policy and of the trained one (higher is better; -200 or more is solved), and
whether the run solved the task. ``python -m sb3_tecrl.demo --help`` lists the options.
"""

import argparse

import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_tecrl.regimes import make_model

ENV_ID = "Pendulum-v1"
# Pendulum-v1's scale: an untrained policy scores about -1200 to -1700, 0 is the maximum; a mean return of -200 or more
# counts as solved (Pendulum has no reward_threshold; the learning check and benchmarks/defaults_study.py use -200 too)
SOLVED_RETURN = -200


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sb3_tecrl.demo", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=8000, help="environment steps to train for")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model, its environment and the evaluations")
    parser.add_argument("--algo", choices=["dsace", "dsact"], default="dsace", help="algorithm (shipped zoo settings)")
    parser.add_argument("--eval-episodes", type=positive_int, default=10, help="episodes of each evaluation")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (a second thread gains at most about 1.5x on an idle machine, and runs about 3x slower "
        "when another process keeps a core busy)",
    )
    return parser.parse_args(argv)


def solved_line(mean_return: float, steps: int) -> str:
    """
    :param mean_return: the trained policy's mean deterministic return
    :param steps: the environment steps it trained for
    :return: the result line: whether the run solved Pendulum-v1
    """
    if mean_return >= SOLVED_RETURN:
        return f"Solved: the mean return {mean_return:.1f} is at least {SOLVED_RETURN}."
    return f"Not solved: the mean return {mean_return:.1f} is below {SOLVED_RETURN} after {steps} steps (try more --steps)."


def main(argv: list[str] | None = None) -> None:
    """
    Train, evaluate before and after, and print the result.

    :param argv: the command-line arguments (default: ``sys.argv[1:]``)
    """
    args = parse_args(argv)
    th.set_num_threads(args.threads)
    # the shipped zoo settings for Pendulum-v1: a short warm-up and SAC-zoo-like learning rates
    model = make_model(args.algo, ENV_ID, seed=args.seed)
    untrained = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    model.learn(args.steps, progress_bar=True)
    trained = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    print(
        f"{type(model).__name__} on {ENV_ID}, deterministic return over {args.eval_episodes} episodes "
        f"(higher is better: untrained policies score about -1200 to -1700, {SOLVED_RETURN} or more is solved):"
    )
    for name, (mean, std) in (("untrained", untrained), (f"after {args.steps} steps", trained)):
        print(f"  {name + ':':<22}{mean:8.1f} +/- {std:.1f}")
    print(solved_line(trained[0], args.steps))


if __name__ == "__main__":
    main()
