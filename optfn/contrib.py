"""optax's ``contrib`` names, for code switched with ``import optfn as optax``.

The same objects as at the top level (``optfn.contrib.muon is optfn.muon``): in optfn
these optimizers are not experimental, and their hyperparameters may be traced like
every other optimizer's.
"""

from ._ademamix import ScaleByAdemamixState as ScaleByAdemamixState
from ._ademamix import ademamix as ademamix
from ._ademamix import scale_by_ademamix as scale_by_ademamix
from ._adopt import adopt as adopt
from ._adopt import scale_by_adopt as scale_by_adopt
from ._muon import MuonDimensionNumbers as MuonDimensionNumbers
from ._muon import MuonState as MuonState
from ._muon import muon as muon
from ._muon import scale_by_muon as scale_by_muon
from ._prodigy import ProdigyState as ProdigyState
from ._prodigy import prodigy as prodigy
from ._schedule_free import ScheduleFreeState as ScheduleFreeState
from ._schedule_free import schedule_free as schedule_free
from ._schedule_free import schedule_free_adamw as schedule_free_adamw
from ._schedule_free import schedule_free_eval_params as schedule_free_eval_params
from ._schedule_free import schedule_free_sgd as schedule_free_sgd

__all__ = ["ScaleByAdemamixState", "ademamix", "scale_by_ademamix", "adopt", "scale_by_adopt", "MuonDimensionNumbers", "MuonState", "muon",
           "scale_by_muon", "ProdigyState", "prodigy", "ScheduleFreeState", "schedule_free", "schedule_free_adamw",
           "schedule_free_eval_params", "schedule_free_sgd"]
