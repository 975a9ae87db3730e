"""
The mutation check of the update: does the test suite catch a wrong update?

Each mutant is one small change to the update's code that a reader could mistake for right (a sign, a bound, the online
network where the target one belongs, a missing ``detach``, a rate): it is applied to a fresh clone of the repository's
last commit in a temporary folder, the update's tests (``TESTS``, the compiled-path tests excluded: they compare the
compiled step with the eager one, not with the maths) run there against it and stop at the first failure, and the
mutant is killed when a test fails. Writes a markdown report (each mutant, killed or not, and the first failing test).

    OMP_NUM_THREADS=1 python -m benchmarks.mutation [--only 3 7] [--out benchmarks/results/mutation.md]

A mutant that survives names a behaviour no test checks: write the test, then run the check again. Uncommitted changes
are not in the clone: commit first.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sb3_tecrl

ROOT = Path(__file__).resolve().parent.parent
LOSSES, ALGORITHM = "sb3_tecrl/common/losses.py", "sb3_tecrl/dsace/dsace.py"
ENTROPY, DISTRIBUTIONS = "sb3_tecrl/common/entropy.py", "sb3_tecrl/common/distributions.py"
POLICIES = "sb3_tecrl/dsace/policies.py"
TESTS = (
    "tests/test_losses.py",
    "tests/test_distributions.py",
    "tests/test_wiring.py",
    "tests/test_fast_path.py",
    "tests/test_dsace.py",
    "tests/test_options.py",
    "tests/test_constraint_options.py",
    "tests/test_sb3_compat.py",
)


@dataclass(frozen=True)
class Mutant:
    path: str
    old: str
    new: str
    what: str


MUTANTS = (
    Mutant(LOSSES, "mean.min(dim=0, keepdim=True)", "mean.max(dim=0, keepdim=True)", "next value from the larger mean"),
    Mutant(LOSSES, "(next_value + noise * next_std)", "(next_value - noise * next_std)", "sampled next value's sign"),
    Mutant(LOSSES, "not_done_discount = (1.0 - dones) * discounts", "not_done_discount = discounts", "terminations ignored"),
    Mutant(LOSSES, "th.lerp(std_ema, batch_mean, tau_b)", "th.lerp(std_ema, batch_mean, 1 - tau_b)", "b's rate reversed"),
    Mutant(LOSSES, "TD_BOUND_SCALE = 3.0", "TD_BOUND_SCALE = 2.0", "sampled target bounded at 2 b"),
    Mutant(LOSSES, "STD_BIAS = 0.1", "STD_BIAS = 0.01", "epsilon_omega 0.01"),
    Mutant(LOSSES, "WEIGHT_MIN, WEIGHT_MAX = 0.1, 10.0", "WEIGHT_MIN, WEIGHT_MAX = 0.1, 5.0", "gradient weight capped at 5"),
    Mutant(LOSSES, "std * (std_.square() - clipped_td)", "std * (std_.square() + clipped_td)", "variance term's sign"),
    Mutant(LOSSES, ".mean(dim=(1, 2)).sum()", ".mean()", "critics' losses averaged, not summed"),
    Mutant(LOSSES, "(next_entropy_value - next_log_prob)", "(next_entropy_value + next_log_prob)", "entropy target's sign"),
    Mutant(LOSSES, "F.mse_loss(entropy_value, target)", "F.l1_loss(entropy_value, target)", "entropy critic on L1"),
    Mutant(LOSSES, "else entropy_value - log_prob", "else entropy_value + log_prob", "actor's -log pi sign"),
    Mutant(
        LOSSES,
        "-(reward_value + ent_coef * soft_entropy)",
        "-(reward_value - ent_coef * soft_entropy)",
        "actor minimises the entropy",
    ),
    Mutant(
        LOSSES,
        "(entropy_estimate.detach() - entropy_target)",
        "(entropy_target - entropy_estimate.detach())",
        "temperature moves the wrong way",
    ),
    Mutant(LOSSES, "HUBER_DELTA = 50.0", "HUBER_DELTA = 1.0", "Huber threshold 1"),
    Mutant(
        LOSSES,
        "mean_term = F.huber_loss(mean, target.expand_as(mean)",
        "mean_term = F.huber_loss(mean, target_bounded",
        "mean trained on the bounded sampled target",
    ),
    Mutant(
        LOSSES,
        "weight = th.clamp(b.square() / (std_.square() + STD_BIAS)",
        "weight = th.clamp(b / (std_ + STD_BIAS)",
        "weight from std, not variance",
    ),
    Mutant(
        ALGORITHM,
        "replay_data.next_observations, target_actor=True)",
        "replay_data.next_observations, target_actor=False)",
        "next actions from the online actor",
    ),
    Mutant(
        ALGORITHM,
        "next_values = self.critic_target(replay_data.next_observations",
        "next_values = self.critic(replay_data.next_observations",
        "next values from the online critics",
    ),
    Mutant(ALGORITHM, ".clamp_(-NOISE_CLIP, NOISE_CLIP)", ".clamp_(-1.0, 1.0)", "target noise clipped at 1"),
    Mutant(
        ALGORITHM,
        "(replay_data, features.detach(), ent_coef)",
        "(replay_data, features, ent_coef)",
        "actor's loss reaches the critics' extractor",
    ),
    Mutant(ALGORITHM, "values_pi.mean.min(dim=0).values", "values_pi.mean.mean(dim=0)", "actor on the critics' mean"),
    Mutant(
        ALGORITHM,
        "trajectory_entropy = step_entropy + values_pi.entropy.detach()",
        "trajectory_entropy = step_entropy + 0 * values_pi.entropy.detach()",
        "budget against the step entropy",
    ),
    Mutant(
        ALGORITHM,
        "update_actor = self._n_updates % self.policy_delay == 0",
        "update_actor = True",
        "policy_delay ignored",
    ),
    Mutant(
        ALGORITHM,
        "th._foreach_lerp_(target, online, self.tau)",
        "th._foreach_lerp_(target, online, 2 * self.tau)",
        "targets at twice tau",
    ),
    Mutant(
        ALGORITHM,
        "values_pi = self.critic.evaluate(features, actions_pi, frozen=True)",
        "values_pi = self.critic.evaluate(features, actions_pi, frozen=False)",
        "actor's loss trains the critics",
    ),
    Mutant(
        ALGORITHM,
        "return actions, log_prob.reshape(-1, 1) - self.log_prob_shift",
        "return actions, log_prob.reshape(-1, 1) + self.log_prob_shift",
        "entropy units' shift reversed",
    ),
    Mutant(ALGORITHM, "values.std.detach(), self.tau_b)", "values.std.detach(), 2 * self.tau_b)", "b at twice tau_b"),
    Mutant(
        ALGORITHM,
        "entropy_bonus = None if self.separate_entropy_critic else -ent_coef * next_log_prob",
        "entropy_bonus = None if self.separate_entropy_critic else -next_log_prob",
        "DSAC-T's soft target without alpha",
    ),
    Mutant(ALGORITHM, "return 1.0 - self.gamma**self.n_steps if", "return 1.0 - self.gamma if", "per-step scale ignores n"),
    Mutant(ENTROPY, "return 1.0 / (1.0 - gamma**n_steps)", "return 1.0 / (1.0 - gamma)", "budget's horizon ignores n"),
    Mutant(
        ENTROPY,
        "return rho * reference_entropy(target_entropy, action_space) - c",
        "return reference_entropy(target_entropy, action_space) - c",
        "rho ignored",
    ),
    Mutant(
        ENTROPY, "return -float(np.prod(action_space.shape))", "return -float(np.prod(action_space.shape)) / 2", "H0 -dim/2"
    ),
    Mutant(ENTROPY, "return float(np.sum(np.log(half_range)))", "return 0.0", "environment units' shift c dropped"),
    Mutant(
        POLICIES,
        "std = F.softplus(reward_out[..., 1:]) + MIN_CRITIC_STD",
        "std = th.exp(reward_out[..., 1:]) + MIN_CRITIC_STD",
        "critics' std through exp, not softplus",
    ),
    Mutant(
        POLICIES,
        "entropy = out[self.n_critics, :, :1] if",
        "entropy = out[0, :, :1] if",
        "entropy value read from a reward critic",
    ),
    Mutant(
        POLICIES,
        "th.clamp(log_std, self.log_std_min, self.log_std_max)",
        "th.clamp(log_std, self.log_std_min, 2.0)",
        "log-std bound at SB3's 2, not the one set",
    ),
    Mutant(
        DISTRIBUTIONS,
        "- th.sum(th.log(1 - actions**2 + TANH_EPSILON), dim=1)",
        "+ th.sum(th.log(1 - actions**2 + TANH_EPSILON), dim=1)",
        "tanh correction's sign",
    ),
    Mutant(DISTRIBUTIONS, "- std.log() - LOG_SQRT_2PI", "- std.log()", "Gaussian's normaliser dropped"),
)


def mutate(source: str, mutant: Mutant) -> str:
    """:return: ``source`` with the mutant's change; ValueError unless its text occurs exactly once"""
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"{mutant.path}: {mutant.old!r} occurs {count} times, not once: update the mutant to the code")
    return source.replace(mutant.old, mutant.new)


def first_failure(pytest_output: str) -> str:
    """:return: the first ``FAILED``/``ERROR`` line of pytest's short summary (``-rfE``), or ``""``"""
    return next((line for line in pytest_output.splitlines() if line.startswith(("FAILED", "ERROR"))), "")


def run_tests(clone: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-rfE", "-p", "no:cacheprovider", "-k", "not compile", *TESTS],
        cwd=clone, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(clone), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )  # fmt: skip


def check(clone: Path, mutant: Mutant) -> str:
    """:return: the first failing test with the mutant applied to ``clone`` (restored after), ``""`` if none fails"""
    path = clone / mutant.path
    source = path.read_text()
    path.write_text(mutate(source, mutant))
    try:
        result = run_tests(clone)
    finally:
        path.write_text(source)
    return first_failure(result.stdout) or ("" if result.returncode == 0 else f"pytest exit {result.returncode}")


def report(rows: list[tuple[int, Mutant, str]], commit: str, seconds: float) -> str:
    killed = sum(bool(failure) for _, _, failure in rows)
    lines = [
        "# Mutation check of the update",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; commit {commit}, sb3-tecrl {sb3_tecrl.__version__}, Python "
        f"{platform.python_version()}, {seconds:.0f} s; command: `OMP_NUM_THREADS=1 python -m benchmarks.mutation`. "
        f"Tests: {', '.join(TESTS)} (compiled-path tests excluded), stopping at the first failure.",
        "",
        f"**{killed} of {len(rows)} mutants killed**",
        "",
        "| # | file | change | what it breaks | result | first failing test |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for index, mutant, failure in rows:
        test = failure.split(" - ")[0].removeprefix("FAILED ").removeprefix("ERROR ")
        result = "killed" if failure else "**survived**"
        lines.append(
            f"| {index} | {Path(mutant.path).name} | `{mutant.old}` -> `{mutant.new}` | {mutant.what} | {result} | `{test}` |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=int, nargs="+", help="the mutants to check, by number (default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mutation.md")
    args = parser.parse_args()
    chosen = [(index, mutant) for index, mutant in enumerate(MUTANTS) if args.only is None or index in args.only]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        for index, mutant in chosen:
            rows.append((index, mutant, check(clone, mutant)))
            print(f"{index:2d} {'killed' if rows[-1][2] else 'SURVIVED'}: {mutant.what} {rows[-1][2]}", flush=True)
    text = report(rows, commit, time.monotonic() - started)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
