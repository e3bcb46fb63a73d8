"""Hyperparameter sweeps: many trials trained as one ``jit(vmap(scan))`` program.

Sample on the right scale (``log_uniform`` for learning rates, ``one_minus_log_uniform``
for betas), randomly rather than on a grid; train every trial together with ``Runner``;
zoom in around the best (``Space.zoom``) and stop bad trials early (``halving=``, or any
``Strategy``); structures that differ only in array sizes (hidden units, batch sizes)
share programs padded with zeros, exactly (``Runner(padding=)``, ``Runner.plan``); train several replicas per configuration (``seeds=``) and confirm the
winners with fresh seeds (``Runner.confirm``).
"""

from ._buckets import PaddingWarning as PaddingWarning
from ._buckets import StructurePlan as StructurePlan
from ._checkpoint import CheckpointError as CheckpointError
from ._coarse_to_fine import coarse_to_fine as coarse_to_fine
from ._async_halving import AsyncHalving as AsyncHalving
from ._bohb import BOHB as BOHB
from ._halving import SuccessiveHalving as SuccessiveHalving
from ._hyperband import Hyperband as Hyperband
from ._ledger import Report as Report
from ._ledger import rank as rank
from ._result import SweepResult as SweepResult
from ._pbt import PopulationBasedTraining as PopulationBasedTraining
from ._strategy import Plan as Plan
from ._strategy import RandomSearch as RandomSearch
from ._strategy import Stop as Stop
from ._strategy import Strategy as Strategy
from ._strategy import StrategyState as StrategyState
from ._stream import Stream as Stream
from ._mesh import trials_mesh as trials_mesh
from ._params_io import load_params as load_params
from ._params_io import save_params as save_params
from ._runner import Runner as Runner
from ._space import Dimension as Dimension
from ._space import Space as Space
from ._space import choice as choice
from ._space import fixed as fixed
from ._space import int_uniform as int_uniform
from ._space import log_uniform as log_uniform
from ._space import one_minus_log_uniform as one_minus_log_uniform
from ._space import uniform as uniform
