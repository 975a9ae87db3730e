"""
The RL Zoo integration through real command lines, run in subprocesses against the installed package.

Budgets are tiny: a few hundred steps, small networks, one thread.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest

from sb3_tecrl import DSACE
from sb3_tecrl.zoo import envs as zoo_envs
from sb3_tecrl.zoo.registration import zoo_variant

TINY = ["policy_kwargs:dict(net_arch=[32, 32])", "learning_starts:50", "batch_size:32", "buffer_size:5000"]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "MUJOCO_GL": "egl", **(env or {})}
    result = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def zoo(program: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"rl_zoo3.{program}", *args]


def train(cwd: Path, algo: str = "dsace", env_id: str = "Pendulum-v1", n: int = 300, extra: tuple[str, ...] = ()) -> None:
    run(zoo("train", "--algo", algo, "--env", env_id, "-n", str(n), "--num-threads", "1", "-f", "logs",
            "--hyperparams", *TINY, *extra), cwd)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder with a dsace agent on Pendulum-v1 trained by ``python -m rl_zoo3.train``."""
    cwd = tmp_path_factory.mktemp("zoo")
    train(cwd)
    return cwd


def python(code: str, env: dict[str, str] | None = None) -> str:
    return run([sys.executable, "-c", code], Path.cwd(), env).stdout.strip()


def test_hook_is_lazy_and_costs_no_torch_import():
    out = python(
        "import sys; print('torch' in sys.modules, 'stable_baselines3' in sys.modules, 'sb3_tecrl.zoo.hook' in sys.modules)"
    )
    # the .pth installed the hook, which imported neither torch nor SB3
    assert out == "False False True"


def test_importing_the_zoo_registers_without_user_action():
    out = python("import rl_zoo3.utils as u, rl_zoo3.hyperparams_opt as h; print(u.ALGOS['dsace'].__mro__[1].__name__, "
                 "u.ALGOS['dsact'].__mro__[1].__name__, 'dsace' in h.HYPERPARAMS_SAMPLER)")  # fmt: skip
    assert out == "DSACE DSACT True"


def test_environment_variable_switches_the_hook_off():
    out = python("import rl_zoo3.utils as u; print('dsace' in u.ALGOS)", env={"SB3_TECRL_NO_ZOO_HOOK": "1"})
    assert out == "False"


def test_a_failing_registration_warns_instead_of_breaking(tmp_path):
    # a broken zoo: registration fails, the interpreter and the zoo import survive with a warning
    (tmp_path / "rl_zoo3").mkdir()
    (tmp_path / "rl_zoo3" / "__init__.py").write_text("")
    result = run([sys.executable, "-c", "import rl_zoo3; print('alive')"], tmp_path, {"PYTHONPATH": str(tmp_path)})
    assert result.stdout.strip() == "alive"
    assert "could not register dsace/dsact" in result.stderr


def test_train_reads_the_shipped_hyperparameters(trained):
    config = (trained / "logs" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1" / "config.yml").read_text()
    # Pendulum-v1 entry of hyperparams/dsace.yml, with the command line's overrides
    assert "ent_coef_learning_rate" in config and "- rho" in config
    assert (trained / "logs" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()


def test_user_conf_file_wins(tmp_path):
    conf = tmp_path / "mine.yml"
    conf.write_text("Pendulum-v1:\n  policy: 'MlpPolicy'\n  n_timesteps: 100\n  rho: 3.5\n")
    run(zoo("train", "--algo", "dsace", "--env", "Pendulum-v1", "-n", "100", "-f", "logs", "-conf", str(conf),
            "--hyperparams", *TINY), tmp_path)  # fmt: skip
    config = (tmp_path / "logs" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1" / "config.yml").read_text()
    assert "3.5" in config and "ent_coef_learning_rate" not in config


def test_paper_regime_is_one_name_away(tmp_path):
    # the papers' regime: 20 environments, one gradient step per vector step, warm-up from the initial policy
    train(tmp_path, algo="dsace_paper", n=600, extra=("learning_starts:200",))
    saved = tmp_path / "logs" / "dsace_paper" / "Pendulum-v1_1"
    model = DSACE.load(saved / "Pendulum-v1.zip", device="cpu")
    assert (model.n_envs, model.warmup_actions, model.num_timesteps) == (20, "policy", 600)
    assert model._n_updates == (600 - 200) // 20


def test_console_script_and_explicit_route_train(tmp_path):
    console = Path(sys.executable).parent / "rl_zoo3"
    run([str(console), "train", "--algo", "dsact", "--env", "Pendulum-v1", "-n", "100", "-f", "logs",
         "--hyperparams", *TINY], tmp_path)  # fmt: skip
    run([sys.executable, "-m", "sb3_tecrl.zoo", "train", "--algo", "dsace", "--env", "Pendulum-v1", "-n", "100",
         "-f", "logs", "--hyperparams", *TINY], tmp_path, {"SB3_TECRL_NO_ZOO_HOOK": "1"})  # fmt: skip
    assert (tmp_path / "logs" / "dsact" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()
    assert (tmp_path / "logs" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()


def test_enjoy(trained):
    out = run(zoo("enjoy", "--algo", "dsace", "--env", "Pendulum-v1", "-f", "logs", "-n", "400", "--no-render"), trained)
    assert "Episode Reward" in out.stdout or "Atari Episode Score" in out.stdout or "Mean reward" in out.stdout


def test_record_video(trained):
    run(zoo("record_video", "--algo", "dsace", "--env", "Pendulum-v1", "-f", "logs", "-n", "50"), trained)
    assert list((trained / "logs" / "dsace" / "Pendulum-v1_1" / "videos").glob("*.mp4"))


def zoo_push_to_hub_importable() -> bool:
    """rl-zoo3 2.9.2 imports ``generate_metadata``, which sb3-team-hf-integration 3.2 no longer has (any algorithm)."""
    try:
        from huggingface_sb3.push_to_hub import generate_metadata  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not zoo_push_to_hub_importable(), reason="rl_zoo3.push_to_hub cannot import with this huggingface_sb3")
def test_push_to_hub_runs_up_to_the_upload(trained):
    result = run(zoo("push_to_hub", "--algo", "dsace", "--env", "Pendulum-v1", "-f", "logs", "-orga", "someone",
                     "--no-render"), trained, {"HF_HUB_OFFLINE": "1"}, check=False)  # fmt: skip
    # the agent was loaded and packaged; what stops it is the hub (offline here)
    assert "Uploading to someone/dsace-Pendulum-v1" in result.stdout
    assert result.returncode != 0 and "dsace" not in result.stderr.split("Traceback")[-1].split("\n")[-2]


def enjoy_peak_memory_kb(cwd: Path, algo: str, env_id: str) -> int:
    """Peak virtual memory of the zoo's enjoy program (run as ``python -m rl_zoo3.enjoy`` does) for a trained agent."""
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('VmPeak', open('/proc/self/status').read().split('VmPeak:')[1].split()[0]))\n"
        f"sys.argv = ['enjoy', '--algo', '{algo}', '--env', '{env_id}', '-f', 'logs', '-n', '5', '--no-render']\n"
        "runpy.run_module('rl_zoo3.enjoy', run_name='__main__', alter_sys=True)\n"
    )
    return int(run([sys.executable, "-c", probe], cwd).stdout.split("VmPeak")[-1].split()[0])


def test_enjoy_does_not_allocate_the_replay_buffer(tmp_path):
    # Humanoid: a 1M-transition buffer is ~2.9 GB (obs and next obs of 348 floats)
    for algo in ("dsace", "sac"):
        train(tmp_path, algo, "Humanoid-v4", n=20, extra=("buffer_size:1000000",))
    buffer_kb = 1_000_000 * (2 * 348 + 17 + 3) * 4 // 1024
    dsace_kb, sac_kb = (enjoy_peak_memory_kb(tmp_path, algo, "Humanoid-v4") for algo in ("dsace", "sac"))
    assert dsace_kb < sac_kb + buffer_kb // 4, (dsace_kb, sac_kb)


@pytest.mark.parametrize("program", ["enjoy", "record_video", "push_to_hub"])
def test_zoo_variant_drops_the_buffer_only_inside_play_programs(tmp_path, program: str):
    model = DSACE("MlpPolicy", "Pendulum-v1", buffer_size=10_000, policy_kwargs=dict(net_arch=[8]))
    model.save(tmp_path / "model")
    # code compiled as if it stood in the zoo's program file
    play_code = compile("loaded = variant.load(path)", str(Path(f"/x/rl_zoo3/{program}.py")), "exec")
    namespace = {"variant": zoo_variant(DSACE), "path": tmp_path / "model"}
    exec(play_code, namespace)
    assert type(namespace["loaded"]) is DSACE and namespace["loaded"].replay_buffer.buffer_size == 1
    assert zoo_variant(DSACE).load(tmp_path / "model").replay_buffer.buffer_size == 10_000


def test_optimize_with_two_workers_sharing_a_journal_study(tmp_path):
    storage = str(tmp_path / "study.log")
    args = zoo("train", "--algo", "dsace", "--env", "Pendulum-v1", "-optimize", "--n-trials", "1", "--n-jobs", "1",
               "-n", "200", "--sampler", "random", "--pruner", "none", "--n-evaluations", "1", "--eval-episodes", "1",
               "--storage", storage, "--study-name", "shared", "--num-threads", "1", "-f", "logs",
               "--hyperparams", "learning_starts:50")  # fmt: skip
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    workers = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err.decode()[-3000:]
    study = optuna.load_study(
        study_name="shared", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    )
    complete = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2
    assert all("rho" in trial.params and "learning_rate" in trial.params for trial in complete)


def test_legacy_mujoco_id_runs_its_v4_equivalent_with_one_warning(monkeypatch):
    monkeypatch.setattr(zoo_envs, "_warned", set())
    assert "Ant-v3" in zoo_envs.substitute_legacy_mujoco_envs()
    with pytest.warns(UserWarning, match="Ant-v4") as record:
        env = gym.make("Ant-v3")
        gym.make("Ant-v3")
    assert len([w for w in record if "sb3-tecrl" in str(w.message)]) == 1
    assert env.observation_space.shape == gym.make("Ant-v4").observation_space.shape
    assert env.spec.max_episode_steps == 1000


def test_substitution_switch_and_buildable_ids_keep_their_meaning(monkeypatch):
    zoo_envs.substitute_legacy_mujoco_envs()
    monkeypatch.setenv(zoo_envs.OFF_SWITCH, "1")
    with pytest.raises(ImportError, match="mujoco"):
        gym.make("Hopper-v3")
    monkeypatch.delenv(zoo_envs.OFF_SWITCH)
    # an original that can be built is built, silently
    entry_point = gym.registry["Hopper-v3"].entry_point
    built = gym.make("Pendulum-v1").unwrapped
    monkeypatch.setattr(entry_point, "original", lambda **kwargs: built)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="sb3-tecrl")
        assert gym.make("Hopper-v3", disable_env_checker=True).unwrapped is built
    assert np.isfinite(gym.make("Swimmer-v3").reset(seed=0)[0]).all()


def test_legacy_mujoco_id_without_mujoco_says_what_to_install():
    # `mujoco` made unimportable, as after `pip install ".[zoo]"` alone
    code = (
        "import sys; sys.modules['mujoco'] = None\n"
        "import gymnasium as gym\n"
        "from sb3_tecrl.zoo.envs import substitute_legacy_mujoco_envs\n"
        "substitute_legacy_mujoco_envs()\n"
        "gym.make('Ant-v3')\n"
    )
    result = run([sys.executable, "-c", code], Path.cwd(), check=False)
    assert result.returncode != 0
    traceback = result.stderr[result.stderr.index("Traceback") :]
    assert "pip install 'sb3-tecrl[mujoco]'" in traceback.splitlines()[-1]
    assert "During handling" not in traceback and len(traceback.splitlines()) < 15
    assert "sb3-tecrl: this v2/v3 MuJoCo environment cannot be built" not in result.stderr  # no substitute promised


def test_a_run_too_short_to_learn_says_so(tmp_path):
    result = run(zoo("train", "--algo", "dsact", "--env", "Pendulum-v1", "-n", "40", "--num-threads", "1", "-f", "logs",
                     "--hyperparams", *TINY), tmp_path)  # fmt: skip
    assert "learn() will make no gradient step" in result.stderr and "learning_starts=50" in result.stderr
