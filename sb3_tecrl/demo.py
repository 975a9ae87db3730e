"""
A short DSAC-E training on Pendulum-v1 (no download needed), with a progress bar and a printed result.

Usage: ``python -m sb3_tecrl.demo [--steps 8000] [--seed 0] [--algo dsace|dsact]``
"""

import argparse

from stable_baselines3.common.evaluation import evaluate_policy

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_path

ENV_ID = "Pendulum-v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8000, help="environment steps to train for")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algo", choices=["dsace", "dsact"], default="dsace")
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()

    algo = DSACE if args.algo == "dsace" else DSACT
    # the shipped zoo settings for Pendulum-v1: a short warm-up and SAC-zoo-like learning rates
    model = algo("MlpPolicy", ENV_ID, seed=args.seed, **algorithm_kwargs(hyperparams_path(args.algo), ENV_ID))
    model.learn(args.steps, progress_bar=True)
    mean, std = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"{algo.__name__} on {ENV_ID} after {args.steps} steps: deterministic return {mean:.1f} +/- {std:.1f}")


if __name__ == "__main__":
    main()
