"""
The RL Zoo integration through real command lines, run in subprocesses against the installed package.

Budgets are tiny: a few hundred steps, small networks, one thread.
"""

import argparse
import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.vec_env import VecNormalize
from torch.nn.utils import parameters_to_vector

import sb3_tecrl
from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.checkpoint import latest_checkpoint, read_sets
from sb3_tecrl.regimes import n_envs_of
from sb3_tecrl.zoo import envs as zoo_envs
from sb3_tecrl.zoo.hyperparams import hyperparams_path
from sb3_tecrl.zoo.registration import algorithms, zoo_variant

# Tests that need the zoo in this process import it inside the test: importing rl_zoo3 patches Gymnasium's TimeLimit

TINY = ["policy_kwargs:dict(net_arch=[32, 32])", "learning_starts:50", "batch_size:32", "buffer_size:5000"]
VENV_BIN = str(Path(sys.executable).parent)
# record_training and benchmark run `python` from PATH: the one of this venv, as in an activated venv
ACTIVATED = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
PARALLEL_CALLBACK = "callback:'rl_zoo3.callbacks.ParallelTrainCallback'"


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


def installed_hook_file() -> Path:
    """:return: the installed ``sb3_tecrl_zoo.pth`` (at the root of site-packages), of a plain or an editable install"""
    # every sb3-tecrl distribution on the path: an editable install also leaves sb3_tecrl.egg-info in the source tree,
    # which lists no installed files and comes first when the tests run from it
    for distribution in importlib.metadata.distributions(name="sb3-tecrl"):
        for file in distribution.files or []:
            if file.name == "sb3_tecrl_zoo.pth":
                return Path(str(distribution.locate_file(file)))
    raise AssertionError("sb3_tecrl_zoo.pth is not installed: install the package first (pip install -e '.[tests]')")


PTH_FILE = installed_hook_file()  # of a plain or an editable install
OUR_PACKAGES_ROOT = str(Path(sb3_tecrl.__file__).parent.parent)


def process_hook_file(folder: Path, env: dict[str, str], *flags: str) -> tuple[tuple[float, list[str], int], str]:
    """
    Run ``site.addpackage`` on the hook file in ``folder`` in a fresh interpreter without site-packages (``-S``), as
    site does at interpreter start.

    :return: the seconds it took, the modules it imported and the number of hooks it installed; and the stderr
    """
    code = ("import site, sys, time; before = set(sys.modules); start = time.perf_counter(); "
            f"site.addpackage({str(folder)!r}, 'sb3_tecrl_zoo.pth', set()); seconds = time.perf_counter() - start; "
            "print(repr((seconds, sorted(set(sys.modules) - before), "
            "sum(type(finder).__name__ == 'ZooImportHook' for finder in sys.meta_path))))")  # fmt: skip
    result = subprocess.run([sys.executable, *flags, "-S", "-c", code], capture_output=True, text=True, env=env, check=True)
    return ast.literal_eval(result.stdout), result.stderr


def test_the_hook_costs_at_most_2_ms_and_imports_only_itself_at_interpreter_start(tmp_path):
    shutil.copy(PTH_FILE, tmp_path)
    # with bytecode, as an installed package has (pip compiles at install), kept out of the source tree
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=OUR_PACKAGES_ROOT, PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"))
    process_hook_file(tmp_path, env)  # writes the bytecode
    seconds: dict[str, list[float]] = {"0": [], "1": []}
    for _ in range(15):  # alternated, so that a busy moment of the machine hits both; each one's best run is compared
        for switch in seconds:
            (took, modules, hooks), _ = process_hook_file(tmp_path, {**env, "SB3_TECRL_NO_ZOO_HOOK": switch})
            seconds[switch].append(took)
            if switch == "0":  # nothing but the hook's module and its parents; no typing, importlib.abc, warnings, ...
                assert (modules, hooks) == (["sb3_tecrl", "sb3_tecrl.version", "sb3_tecrl.zoo", "sb3_tecrl.zoo.hook"], 1)
            else:
                assert (modules, hooks) == ([], 0)
    added = min(seconds["0"]) - min(seconds["1"])
    assert added <= 0.002, f"the hook adds {added * 1e3:.2f} ms to interpreter start"


def test_a_stale_hook_file_says_how_to_remove_it(tmp_path):
    # the .pth left behind by an editable install whose checkout moved: sb3_tecrl cannot be imported any more
    shutil.copy(PTH_FILE, tmp_path)
    (_, modules, hooks), stderr = process_hook_file(tmp_path, {}, "-I", "-W", "error")
    assert (modules, hooks) == ([], 0)  # and no exception
    assert f"rm {tmp_path / 'sb3_tecrl_zoo.pth'}" in stderr and "moved or gone" in stderr


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


def test_linear_schedules_of_the_zoo_for_the_learning_rates(tmp_path):
    train(tmp_path, n=100, extra=("learning_rate:'lin_1e-3'", "ent_coef_learning_rate:'lin_2e-3'"))
    model = DSACE.load(tmp_path / "logs" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1.zip", device="cpu")
    # the actor's and critics' rate, and the temperature's: initial value times the progress remaining
    assert (model.lr_schedule(0.5), model.ent_coef_lr_schedule(0.5)) == pytest.approx((5e-4, 1e-3))


@pytest.mark.parametrize("program", ["enjoy", "record_video"])
def test_the_explicit_route_runs_the_zoos_play_programs(trained, program: str):
    no_render = ["--no-render"] if program == "enjoy" else []  # record_video renders off screen
    run([sys.executable, "-m", "sb3_tecrl.zoo", program, "--algo", "dsace", "--env", "Pendulum-v1", "-f", "logs",
         "-n", "50", *no_render], trained, {"SB3_TECRL_NO_ZOO_HOOK": "1"})  # fmt: skip
    if program == "record_video":
        assert list((trained / "logs" / "dsace" / "Pendulum-v1_1" / "videos").glob("*.mp4"))


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


def test_enjoy_does_not_allocate_the_replay_buffer(trained):
    # the zoo's enjoy program, run as `python -m rl_zoo3.enjoy` does, reports the replay buffers it creates
    probe = (
        "import atexit, runpy, sys\n"
        "from stable_baselines3.common.buffers import ReplayBuffer\n"
        "sizes = []\n"
        "original = ReplayBuffer.__init__\n"
        "def recording_init(self, buffer_size, *args, **kwargs):\n"
        "    sizes.append(buffer_size)\n"
        "    original(self, buffer_size, *args, **kwargs)\n"
        "ReplayBuffer.__init__ = recording_init\n"
        "atexit.register(lambda: print('BUFFER_SIZES', sizes))\n"
        "sys.argv = ['enjoy', '--algo', 'dsace', '--env', 'Pendulum-v1', '-f', 'logs', '-n', '5', '--no-render']\n"
        "runpy.run_module('rl_zoo3.enjoy', run_name='__main__', alter_sys=True)\n"
    )
    out = run([sys.executable, "-c", probe], trained).stdout
    # the agent was saved with buffer_size 5000 (TINY): enjoy loads it with a one-transition buffer
    assert "BUFFER_SIZES [1]" in out, out[-2000:]


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
    # train with a trial's hyperparameters (the zoo converts them back with our converter)
    run(zoo("train", "--algo", "dsace", "--env", "Pendulum-v1", "-n", "100", "--storage", storage, "--study-name", "shared",
            "--trial-id", "1", "--num-threads", "1", "-f", "tuned"), tmp_path)  # fmt: skip
    config = (tmp_path / "tuned" / "dsace" / "Pendulum-v1_1" / "Pendulum-v1" / "config.yml").read_text()
    assert f"- {study.trials[1].params['rho']}" in config


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


def test_every_registered_name_gets_every_route():
    import rl_zoo3.callbacks
    from rl_zoo3 import exp_manager, hyperparams_opt, utils

    from sb3_tecrl.zoo.callbacks import ParallelTrainCallback
    from sb3_tecrl.zoo.hyperparams_opt import convert_params, sample_dsace_params, sample_dsact_params

    samplers = {DSACE: sample_dsace_params, DSACT: sample_dsact_params}
    for name, algo_class in algorithms().items():
        assert utils.ALGOS[name].__mro__[1] is algo_class
        assert hyperparams_opt.HYPERPARAMS_SAMPLER[name] is samplers[algo_class]
        converter = hyperparams_opt.HYPERPARAMS_CONVERTER[name]
        assert converter.func is convert_params and converter.keywords == {"n_envs": n_envs_of(name)}
        manager = exp_manager.ExperimentManager(argparse.Namespace(), name, "Pendulum-v1", "logs")
        assert manager.config == str(hyperparams_path(name))
    assert rl_zoo3.callbacks.ParallelTrainCallback is ParallelTrainCallback


@pytest.mark.parametrize("hook", ["0", "1"])
def test_importing_our_parallel_train_callback_before_the_zoo_registers_without_a_warning(hook: str):
    # our callbacks module imports rl_zoo3, whose import registers (the hook) and looks for the module's class
    code = ("from sb3_tecrl.zoo.callbacks import ParallelTrainCallback; import rl_zoo3.callbacks; "
            "print(rl_zoo3.callbacks.ParallelTrainCallback is ParallelTrainCallback)")  # fmt: skip
    env = {**os.environ, "SB3_TECRL_NO_ZOO_HOOK": hook}
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "True" if hook == "0" else "False"), result.stderr


# The RL Zoo's own test cases that run SAC (rl-baselines3-zoo tests/test_train.py, test_hyperparams_opt.py,
# test_enjoy.py), run with our algorithms, and the zoo's other programs on our log folders


@pytest.mark.parametrize("algo", ["dsace", "dsact"])
def test_parallel_train_callback_by_its_zoo_name(tmp_path, algo: str):
    run(zoo("train", "--algo", algo, "--env", "Pendulum-v1", "-n", "400", "--num-threads", "1", "-f", "logs", "-params",
            *TINY, "monitor_kwargs:dict(info_keywords=('TimeLimit.truncated',))", PARALLEL_CALLBACK), tmp_path)  # fmt: skip
    saved = algorithms()[algo].load(tmp_path / "logs" / algo / "Pendulum-v1_1" / "Pendulum-v1.zip")
    # the saved model is the copy that trained in the second thread
    assert type(saved) is algorithms()[algo] and saved._n_updates >= 100


def test_parallel_train_callback_ends_cleanly_when_training_never_starts(tmp_path):
    # rl-zoo3 2.9.2's own callback fails here for SAC too ('ParallelTrainCallback' object has no attribute 'process')
    run(zoo("train", "--algo", "sac", "--env", "Pendulum-v1", "-n", "200", "--num-threads", "1", "-f", "logs", "-params",
            "learning_starts:1000", "buffer_size:1000", PARALLEL_CALLBACK), tmp_path)  # fmt: skip
    assert (tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()


def test_parallel_train_callback_trains_a_copy_of_the_models_class():
    from sb3_tecrl.zoo.callbacks import ParallelTrainCallback

    class RoundsJoined(ParallelTrainCallback):
        """Waits for each training round of the thread to end: the test does not depend on the thread's speed."""

        def train(self) -> None:
            super().train()
            self.process.join()

    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    model = DSACT("MlpPolicy", env, learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[16]), seed=0)
    callback = RoundsJoined(gradient_steps=10)
    initial_actor = parameters_to_vector(model.actor.parameters()).clone()
    model.learn(200, callback=callback)
    trainer = callback._model
    assert type(trainer) is DSACT and trainer._n_updates >= 10
    # it samples observations normalised as the model sees them, at the model's training progress
    assert trainer._vec_normalize_env is env
    assert 0 < trainer.num_timesteps <= 200 and trainer._current_progress_remaining < 1.0
    # the collecting model, which does not train itself, acts with the copy's trained weights
    assert not parameters_to_vector(model.actor.parameters()).equal(initial_actor)
    with pytest.raises(TypeError, match="PPO has none"):
        PPO("MlpPolicy", "Pendulum-v1", n_steps=64).learn(64, callback=ParallelTrainCallback())


@pytest.fixture(scope="module")
def two_runs_each(tmp_path_factory) -> Path:
    """
    dsace and dsact trained twice each as in the zoo's replay-buffer test: the first run saves its replay buffer, the
    second continues from the first's model and buffer (``-i``); every run evaluates and checkpoints every 200 steps.
    """
    cwd = tmp_path_factory.mktemp("zoo_runs")
    args = ("--save-replay-buffer", "--eval-freq", "200", "--eval-episodes", "2", "--save-freq", "200",
            "--env-kwargs", "g:8.0", "--eval-env-kwargs", "g:5.0")  # fmt: skip
    for algo in ("dsace", "dsact"):
        train(cwd, algo, n=400, extra=("buffer_size:1000", *args))
        first_run = cwd / "logs" / algo / "Pendulum-v1_1" / "Pendulum-v1.zip"
        train(cwd, algo, n=400, extra=("buffer_size:1000", *args, "-i", str(first_run)))
    return cwd


@pytest.mark.parametrize("algo", ["dsace", "dsact"])
def test_save_replay_buffer_and_continue_training(two_runs_each, algo: str):
    first, second = (two_runs_each / "logs" / algo / f"Pendulum-v1_{run_id}" / "replay_buffer.pkl" for run_id in (1, 2))
    assert load_from_pkl(first).pos == 400
    # the second run started from the first's 400 transitions
    assert load_from_pkl(second).pos == 800
    assert "g: 8.0" in (two_runs_each / "logs" / algo / "Pendulum-v1_2" / "Pendulum-v1" / "args.yml").read_text()


@pytest.mark.parametrize("algo", ["dsace", "dsact"])
def test_save_freq_writes_checkpoint_sets_that_a_kill_cannot_break(two_runs_each, algo: str):
    # --save-freq goes through sb3_tecrl's CheckpointCallback: SB3's file names, plus a manifest per set, no temporary file
    folder = two_runs_each / "logs" / algo / "Pendulum-v1_1"
    assert [checkpoint.steps for checkpoint in read_sets(folder)] == [200, 400]
    assert latest_checkpoint(folder).files == {"model": folder / "rl_model_400_steps.zip"}
    assert not list(folder.glob(".*"))


@pytest.mark.parametrize("load", [["--load-best"], ["--load-checkpoint", "200"], ["--load-last-checkpoint"]])
def test_enjoy_loads_best_and_checkpoint_models(two_runs_each, load: list[str]):
    out = run(zoo("enjoy", "--algo", "dsact", "--env", "Pendulum-v1", "-f", "logs", "--exp-id", "1", "-n", "50",
                  "--no-render", *load), two_runs_each).stdout  # fmt: skip
    expected = {"--load-best": "best_model.zip", "--load-checkpoint": "rl_model_200_steps.zip"}.get(load[0], "rl_model_400")
    assert f"Loading logs/dsact/Pendulum-v1_1/{expected}" in out


def test_all_plots_and_rliable_plots_read_our_log_folders(two_runs_each):
    out = run(zoo("plots.all_plots", "-a", "dsace", "dsact", "-e", "Pendulum", "-f", "logs", "--no-display", "-o",
                  "results"), two_runs_each, {"MPLBACKEND": "Agg"}).stdout  # fmt: skip
    table_row = next(line for line in out.splitlines() if line.startswith("|Pendulum"))
    assert table_row.count("+/-") == 2  # one score for each algorithm, over its two runs
    out = run(zoo("plots.plot_from_file", "-i", "results", "--rliable", "-o", "sensitivity", "--format", "png"),
              two_runs_each, {"MPLBACKEND": "Agg"}).stdout  # fmt: skip
    assert "keys: ['DSACE-logs', 'DSACT-logs']" in out and "Computing bootstrap CI" in out
    assert (two_runs_each / "sensitivity").stat().st_size > 0


def test_plot_train_reads_our_monitor_files(two_runs_each):
    # plot_train only shows its figure: print the curves it drew instead
    probe = (
        "import atexit, runpy, sys\n"
        "import matplotlib.pyplot as plt\n"
        "atexit.register(lambda: print('CURVES', sorted(line.get_label() for line in plt.gca().lines)))\n"
        "sys.argv = ['plot_train', '-a', 'dsace', '-e', 'Pendulum', '-f', 'logs', '-w', '1']\n"
        "runpy.run_module('rl_zoo3.plots.plot_train', run_name='__main__', alter_sys=True)\n"
    )
    out = run([sys.executable, "-c", probe], two_runs_each, {"MPLBACKEND": "Agg"}).stdout
    assert "CURVES ['Pendulum-v1_1', 'Pendulum-v1_2']" in out


def ffmpeg_folder(tmp_path: Path) -> Path | None:
    """A folder with an ``ffmpeg`` executable (record_training runs ``ffmpeg``): the system's, or imageio-ffmpeg's."""
    folder = tmp_path / "bin"
    folder.mkdir()
    try:
        import imageio_ffmpeg

        (folder / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        if shutil.which("ffmpeg") is None:
            return None
    return folder


def test_record_training(trained, tmp_path):
    ffmpeg = ffmpeg_folder(tmp_path)
    if ffmpeg is None:
        pytest.skip("record_training needs ffmpeg")
    path = {"PATH": f"{ffmpeg}{os.pathsep}{ACTIVATED['PATH']}"}
    run(zoo("record_training", "--algo", "dsace", "--env", "Pendulum-v1", "-f", "logs", "--exp-id", "1", "-n", "50",
            "--gif", "-o", str(tmp_path / "videos")), trained, path)  # fmt: skip
    assert (tmp_path / "videos" / "training.mp4").stat().st_size > 0
    assert (tmp_path / "videos" / "training.gif").stat().st_size > 0


def test_benchmark_from_a_zoo_checkout(trained, tmp_path):
    # benchmark.py runs `python enjoy.py`: the script at the root of a zoo checkout, which this file stands for
    (tmp_path / "enjoy.py").write_text("from rl_zoo3.enjoy import enjoy\n\nif __name__ == '__main__':\n    enjoy()\n")
    (tmp_path / "benchmark").mkdir()
    out = run(zoo("benchmark", "--log-dir", str(trained / "logs"), "--benchmark-dir", "benchmark", "-n", "400",
                  "--test-mode", "--no-hub", "--num-threads", "1"), tmp_path, ACTIVATED).stdout  # fmt: skip
    assert "Evaluating dsace on Pendulum-v1" in out
    assert "|dsace|Pendulum-v1|" in (tmp_path / "benchmark" / "benchmark.md").read_text().replace(" ", "")


def test_optimize_as_the_zoo_tests_sac(tmp_path):
    run(zoo("train", "-n", "100", "--algo", "dsact", "--env", "Pendulum-v1", "-f", "logs", "-params",
            "policy_kwargs:dict(net_arch=[32])", "--no-optim-plots", "--seed", "14", "--n-trials", "2", "--n-jobs", "1",
            "--sampler", "random", "--pruner", "median", "--n-evaluations", "2", "--n-startup-trials", "1", "-optimize",
            "--num-threads", "1"), tmp_path)  # fmt: skip
    report = next((tmp_path / "logs" / "dsact").glob("report_Pendulum-v1_2-trials-100-random-median_*.csv")).read_text()
    header = report.splitlines()[0]
    # DSAC-T's search space: no rho (DSACT subclasses DSACE; its own sampler must win)
    assert "params_policy_delay" in header and "params_rho" not in header


def test_explicit_route_help_describes_every_command():
    from sb3_tecrl.zoo.__main__ import COMMANDS

    result = subprocess.run([sys.executable, "-m", "sb3_tecrl.zoo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m sb3_tecrl.zoo ")
    described = " ".join(result.stdout.split())
    for name, help_text in COMMANDS.items():
        assert f"{name} {' '.join(help_text.split())}" in described


@pytest.mark.parametrize(
    "argv, error",
    [(["plots"], "invalid choice: 'plots' (choose from 'train', 'enjoy', 'record_video'"), ([], "required: command")],
)
def test_explicit_route_names_an_unknown_or_missing_command(argv, error):
    result = subprocess.run([sys.executable, "-m", "sb3_tecrl.zoo", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert error in result.stderr and "python -m sb3_tecrl.zoo" in result.stderr
