"""optfn: pure-function optimizers for JAX.

Gradient transformations are ``(init, update)`` pairs (see ``optfn._base`` for the
protocol) that compose with ``chain`` and interoperate with optax. Schedules,
hyperparameters kept in the optimizer state (``inject_hyperparams``) and a functional
batch norm with explicit state (``batch_norm``) complete it.
"""

from ._adadelta import ScaleByAdadeltaState as ScaleByAdadeltaState
from ._adadelta import adadelta as adadelta
from ._adadelta import scale_by_adadelta as scale_by_adadelta
from ._adagrad import ScaleByRssState as ScaleByRssState
from ._adagrad import adagrad as adagrad
from ._adagrad import scale_by_rss as scale_by_rss
from ._adafactor import FactoredState as FactoredState
from ._adafactor import adafactor as adafactor
from ._adafactor import clip_by_block_rms as clip_by_block_rms
from ._adafactor import scale_by_factored_rms as scale_by_factored_rms
from ._adafactor import scale_by_param_block_rms as scale_by_param_block_rms
from ._adam import ScaleByAdamState as ScaleByAdamState
from ._adam import adam as adam
from ._adam import adamw as adamw
from ._adam import nadam as nadam
from ._adam import nadamw as nadamw
from ._adam import scale_by_adam as scale_by_adam
from ._adam_family import ScaleByAmsgradState as ScaleByAmsgradState
from ._adam_family import ScaleByBeliefState as ScaleByBeliefState
from ._adam_family import adabelief as adabelief
from ._adam_family import adamax as adamax
from ._adam_family import amsgrad as amsgrad
from ._adam_family import radam as radam
from ._adam_family import scale_by_adamax as scale_by_adamax
from ._adam_family import scale_by_amsgrad as scale_by_amsgrad
from ._adam_family import scale_by_belief as scale_by_belief
from ._adam_family import scale_by_radam as scale_by_radam
from ._ademamix import ScaleByAdemamixState as ScaleByAdemamixState
from ._ademamix import ademamix as ademamix
from ._ademamix import scale_by_ademamix as scale_by_ademamix
from ._adopt import adopt as adopt
from ._adopt import scale_by_adopt as scale_by_adopt
from ._apply_updates import apply_updates as apply_updates
from ._batch_norm import BatchNormParams as BatchNormParams
from ._batch_norm import BatchNormState as BatchNormState
from ._batch_norm import batch_norm as batch_norm
from ._batch_norm import batch_norm_init as batch_norm_init
from ._base import EmptyState as EmptyState
from ._base import GradientTransformation as GradientTransformation
from ._base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from ._base import OptState as OptState
from ._base import Params as Params
from ._base import Schedule as Schedule
from ._base import Updates as Updates
from ._base import identity as identity
from ._chain import chain as chain
from ._cautious import CautiousState as CautiousState
from ._cautious import cautious as cautious
from ._clipping import clip as clip
from ._clipping import clip_by_global_norm as clip_by_global_norm
from ._clipping import global_norm as global_norm
from ._ema import EmaState as EmaState
from ._ema import ema as ema
from ._flatten import FlattenState as FlattenState
from ._flatten import flatten as flatten
from ._inject import InjectHyperparamsState as InjectHyperparamsState
from ._hyperparams import get_hyperparams as get_hyperparams
from ._inject import inject_hyperparams as inject_hyperparams
from ._hyperparams import set_hyperparams as set_hyperparams
from ._numerics import safe_increment as safe_increment
from ._parametric_schedule import ParametricSchedule as ParametricSchedule
from ._rmsprop import ScaleByRmsState as ScaleByRmsState
from ._rmsprop import ScaleByStddevState as ScaleByStddevState
from ._rmsprop import rmsprop as rmsprop
from ._rmsprop import scale_by_rms as scale_by_rms
from ._rmsprop import scale_by_stddev as scale_by_stddev
from ._schedules import constant as constant
from ._schedules import cosine_decay as cosine_decay
from ._schedules import exponential_decay as exponential_decay
from ._schedules import inverse_sqrt_decay as inverse_sqrt_decay
from ._schedules import inverse_time_decay as inverse_time_decay
from ._schedules import join_schedules as join_schedules
from ._schedules import linear as linear
from ._schedules import per_epoch as per_epoch
from ._schedules import piecewise_constant as piecewise_constant
from ._schedules import polynomial as polynomial
from ._schedules import warmup_cosine_decay as warmup_cosine_decay
from ._scale import ScaleByScheduleState as ScaleByScheduleState
from ._scale import scale as scale
from ._scale import scale_by_learning_rate as scale_by_learning_rate
from ._scale import scale_by_schedule as scale_by_schedule
from ._soap import ScaleBySoapState as ScaleBySoapState
from ._soap import scale_by_soap as scale_by_soap
from ._soap import soap as soap
from ._sgd import TraceState as TraceState
from ._sgd import sgd as sgd
from ._sgd import trace as trace
from ._sign import ScaleByLionState as ScaleByLionState
from ._sign import lion as lion
from ._sign import scale_by_lion as scale_by_lion
from ._sign import scale_by_sign as scale_by_sign
from ._sign import sign_sgd as sign_sgd
from ._sign import signum as signum
from ._trust_ratio import lamb as lamb
from ._trust_ratio import lars as lars
from ._trust_ratio import scale_by_trust_ratio as scale_by_trust_ratio
from ._weight_decay import add_decayed_weights as add_decayed_weights

from ._apply_if_finite import ApplyIfFiniteState as ApplyIfFiniteState
from ._apply_if_finite import apply_if_finite as apply_if_finite
from ._extra_args import with_extra_args_support as with_extra_args_support
from ._lookahead import LookaheadParams as LookaheadParams
from ._lookahead import LookaheadState as LookaheadState
from ._lookahead import lookahead as lookahead
from ._masking import MaskedNode as MaskedNode
from ._masking import MaskedState as MaskedState
from ._masking import masked as masked
from ._multi_steps import MultiSteps as MultiSteps
from ._multi_steps import MultiStepsState as MultiStepsState
from ._multi_steps import skip_large_updates as skip_large_updates
from ._multi_steps import skip_not_finite as skip_not_finite
from ._muon import MuonDimensionNumbers as MuonDimensionNumbers
from ._muon import MuonState as MuonState
from ._muon import muon as muon
from ._muon import scale_by_muon as scale_by_muon
from ._partition import PartitionState as PartitionState
from ._partition import partition as partition
from ._prodigy import ProdigyState as ProdigyState
from ._prodigy import prodigy as prodigy
from ._schedule_free import ScheduleFreeState as ScheduleFreeState
from ._schedule_free import schedule_free as schedule_free
from ._schedule_free import schedule_free_adamw as schedule_free_adamw
from ._schedule_free import schedule_free_eval_params as schedule_free_eval_params
from ._schedule_free import schedule_free_sgd as schedule_free_sgd

from . import contrib as contrib
from . import sweep as sweep

__version__ = "0.1.0"

# optax's schedule names, so that code switched with ``import optfn as optax`` runs. They
# resolve to optfn's schedules (one object, one documented name: the optfn one) and are
# kept out of ``dir(optfn)`` and the API reference.
_OPTAX_NAMES = {
    "constant_schedule": "constant",
    "linear_schedule": "linear",
    "polynomial_schedule": "polynomial",
    "cosine_decay_schedule": "cosine_decay",
    "warmup_cosine_decay_schedule": "warmup_cosine_decay",
    "piecewise_constant_schedule": "piecewise_constant",
    "multi_transform": "partition",  # optax's older name
}


def __getattr__(name):
    if name in _OPTAX_NAMES:
        return globals()[_OPTAX_NAMES[name]]
    raise AttributeError(f"module 'optfn' has no attribute {name!r}")
