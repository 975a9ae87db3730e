"""
The RL Zoo's ``ParallelTrainCallback`` for every SB3 off-policy algorithm.

rl-zoo3 2.9.2's ``rl_zoo3.callbacks.ParallelTrainCallback`` (a copy of the model trains in a second thread while the
model collects experience) accepts only SAC and TQC: it asserts ``isinstance(model, (SAC, TQC))`` and reloads the copy
as one of the two. It also fails at the end of every run in which its training thread never started
(``learning_starts`` not reached, or its own initialisation failed), for SAC too, with
``'ParallelTrainCallback' object has no attribute 'process'``, raised on top of the first error if any.

Registration (:func:`sb3_tecrl.zoo.registration.register`) puts :class:`ParallelTrainCallback` in the zoo's place, so
``-params callback:"'rl_zoo3.callbacks.ParallelTrainCallback'"`` gets it; without the import hook, name
``sb3_tecrl.zoo.callbacks.ParallelTrainCallback`` instead.
"""

import io
from copy import deepcopy

from rl_zoo3 import callbacks as zoo_callbacks
from rl_zoo3 import utils as zoo_utils
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm


class ParallelTrainCallback(zoo_callbacks.ParallelTrainCallback):
    """
    The zoo's parallel training for any off-policy algorithm: a copy of the model, of the model's own class, runs
    ``gradient_steps`` gradient steps in a second thread on a snapshot of the replay buffer while the model collects
    experience; at the end of each rollout that finds the copy idle, the model takes the copy's weights and the copy
    a new snapshot. Saving the model saves the copy (its optimizers and temperature are the trained ones).

    Unlike the zoo's, the copy samples with the model's ``VecNormalize`` statistics and follows the model's timestep
    count and training progress (learning-rate schedules), and a run whose training thread never started ends cleanly.

    :param gradient_steps: Number of gradient steps to do before sending the new policy
    :param verbose: Verbosity level
    :param sleep_time: Limit the fps in the thread collecting experience.
    """

    def __init__(self, gradient_steps: int = 100, verbose: int = 0, sleep_time: float = 0.0):
        super().__init__(gradient_steps=gradient_steps, verbose=verbose, sleep_time=sleep_time)
        self.process = None  # type: ignore[assignment]  # no training thread yet: nothing to wait for at the end

    def _init_callback(self) -> None:
        if not isinstance(self.model, OffPolicyAlgorithm):
            raise TypeError(
                f"ParallelTrainCallback trains a copy of an off-policy model (SAC, TQC, DSACE, ...) from its replay "
                f"buffer; {type(self.model).__name__} has none. Remove the callback for this algorithm."
            )
        self.model_class = type(self.model)
        self._model = copy_of(self.model)
        self._model._vec_normalize_env = self.model._vec_normalize_env
        self._model.set_logger(self.model.logger)
        self.batch_size = self._model.batch_size
        self.model.train = _no_training  # type: ignore[method-assign]  # the copy trains instead
        self.model.save = self._model.save  # type: ignore[method-assign]

    def _on_rollout_end(self) -> None:
        if not self._model_ready:
            return
        self._model.replay_buffer = deepcopy(self.model.replay_buffer)
        self.model.set_parameters(deepcopy(self._model.get_parameters()))
        self._model.num_timesteps = self.model.num_timesteps
        self._model._current_progress_remaining = self.model._current_progress_remaining
        if self.num_timesteps >= self._model.learning_starts:
            self.train()


if "dsace" in zoo_utils.ALGOS:
    # registered (by the import hook) while this module imported rl_zoo3, before this class existed: take the zoo's
    # place now, as registration does when it finds the class
    zoo_callbacks.ParallelTrainCallback = ParallelTrainCallback


def copy_of(model: BaseAlgorithm) -> BaseAlgorithm:
    """:return: a copy of ``model`` (without its replay buffer and environment), through save and load"""
    stream = io.BytesIO()
    model.save(stream)
    stream.seek(0)
    return type(model).load(stream)


def _no_training(gradient_steps: int, batch_size: int = 64) -> None:
    return None
