"""Rasa 3.6's per-message work, made cheaper without changing what it computes.

Under load the Rasa server process is the bottleneck: one event loop on one core. py-spy on a
20-conversation run (bench/load.py) showed where its CPU time per traveler message went, and these
are the parts that were pure overhead, each replaced here by code that gives the same result:

1. ``Event.resolve_by_type`` walks every subclass of ``Event`` (``all_subclasses`` with an
   ``inspect.isabstract`` per class) for every stored event it deserialises: about a third of
   reading a conversation back from the tracker store. The type-name lookup is now a dictionary,
   rebuilt when a name is not found (a subclass imported later).
2. Each prediction (NLU, then every next action) runs the model graph through ``dask.get``, whose
   scheduler costs more than our small components. ``SequentialGraphRunner`` runs the same nodes in
   dependency order, in the calling thread, as dask's synchronous scheduler did.
3. Every call to the action server opened a new aiohttp session and TCP connection
   (``EndpointConfig.request``). One session per endpoint and event loop now keeps connections
   alive. Its idle connections are dropped after ``KEEPALIVE_S``, well before the action server
   (Sanic: 5 s) closes them, so a request is never written to a connection the server is closing.
   The request (the whole conversation) is encoded with ujson, which Rasa already depends on.
4. The logistic regression classifier's input row: Rasa combines all of a message's sparse features,
   deep-copying the per-token ones it then ignores; only the sentence features are combined now.
5. ``Domain.is_empty`` (asked on every parsed message) built a new empty domain each time to compare
   with; the empty domain's dictionary is now built once.

``apply()`` installs them; ``travelbot.rasa_server`` calls it before Rasa starts. Each has a test
in tests/test_rasa_speedups.py that compares it with Rasa's own code.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Dict, List, Optional, Tuple, Type

import aiohttp
import numpy as np
import rasa.core.processor
import rasa.shared.utils.common
import ujson
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from scipy.sparse import csr_matrix, hstack, vstack

KEEPALIVE_S = 2.0

# -- 1. event classes by type name ---------------------------------------------------------------

_rasa_resolve_by_type = Event.resolve_by_type
_event_classes: Dict[str, Type[Event]] = {}


def _index_event_classes() -> None:
    _event_classes.clear()
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        _event_classes.setdefault(cls.type_name, cls)  # the first match, as Rasa's loop takes


def resolve_event_type(type_name: str, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """``Event.resolve_by_type`` with the subclass walk done once, not once per event."""
    cls = _event_classes.get(type_name)
    if cls is None:
        _index_event_classes()
        cls = _event_classes.get(type_name)
    if cls is not None:
        return cls
    return _rasa_resolve_by_type(type_name, default)  # "topic", a default, or Rasa's error


# -- 2. the model graph without dask -------------------------------------------------------------


class SequentialGraphRunner(DaskGraphRunner):
    """Runs the graph's nodes in dependency order in this thread, as ``dask.get`` did."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._graphs: Dict[Tuple[str, ...], Dict[str, Any]] = {}

    def _graph_for(self, targets: Tuple[str, ...]) -> Dict[str, Any]:
        if targets not in self._graphs:
            schema = self._graph_schema.minimal_graph_schema(list(targets))
            self._graphs[targets] = self._build_dask_graph(schema)
        return self._graphs[targets]

    def run(
        self, inputs: Optional[Dict[str, Any]] = None, targets: Optional[List[str]] = None
    ) -> Dict[str, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        graph = dict(self._graph_for(run_targets))
        self._add_inputs_to_graph(inputs, graph)
        done: Dict[str, Any] = {}

        def value(key: str) -> Any:
            if key not in done:
                task = graph[key]
                if callable(task[0]):  # a node and the names of the nodes it needs
                    done[key] = task[0](*(value(need) for need in task[1:]))
                else:  # an input: (name, value), passed on as it is
                    done[key] = task
            return done[key]

        try:
            return dict(value(target) for target in run_targets)
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e


# -- 3. one HTTP session per endpoint ------------------------------------------------------------


class _KeptSession:
    """``async with`` gives the kept session and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[int, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)


def kept_session(self: EndpointConfig) -> _KeptSession:
    """``EndpointConfig.session`` (same headers, auth and timeout), made once per loop and endpoint."""
    per_loop = _sessions.setdefault(asyncio.get_running_loop(), {})
    session = per_loop.get(id(self))
    if session is None or session.closed:
        auth = (
            aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            if self.basic_auth
            else None
        )
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
            json_serialize=ujson.dumps,
        )
        per_loop[id(self)] = session
        weakref.finalize(self, per_loop.pop, id(self), None)
    return _KeptSession(session)


# -- 4. the classifier's input row ---------------------------------------------------------------

_rasa_create_x = LogisticRegressionClassifier._create_X


def create_x(self: LogisticRegressionClassifier, messages: List[Message]) -> csr_matrix:
    """Rasa's ``_create_X`` when messages have sparse features only: their sentence features, side by
    side in featurizer order (what ``Message.get_sparse_features`` combines, without also deep-copying
    and combining the per-token sequence features, which the classifier does not use)."""
    rows = []
    for message in messages:
        sentence = [
            f.features for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
        ]
        if not sentence or any(not f.is_sparse() for f in message.features if f.attribute == TEXT):
            return _rasa_create_x(self, messages)
        rows.append(side_by_side(sentence))
    return rows[0] if len(rows) == 1 else vstack(rows, format="csr")


def side_by_side(blocks: List[Any]) -> csr_matrix:
    """``hstack(blocks, format="csr")`` for one-row sparse blocks, without scipy's general block
    assembly (a third of the time, measured: 660 -> 170 us for our two featurizers' rows)."""
    if any(block.shape[0] != 1 for block in blocks):
        return hstack(blocks, format="csr")
    parts = [block.tocoo() for block in blocks]
    widths = [part.shape[1] for part in parts]
    offsets = np.cumsum([0, *widths[:-1]])
    data = np.concatenate([part.data for part in parts])
    columns = np.concatenate([part.col + offset for part, offset in zip(parts, offsets, strict=True)])
    order = np.argsort(columns, kind="stable")
    return csr_matrix((data[order], columns[order], np.array([0, len(columns)])), shape=(1, sum(widths)))


# -- 5. the empty domain -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _empty_domain_dict() -> Dict[str, Any]:
    return Domain.empty().as_dict()


def domain_is_empty(self: Domain) -> bool:
    """``Domain.is_empty``, comparing with the empty domain's dictionary built once."""
    return bool(self.as_dict() == _empty_domain_dict())


def apply() -> None:
    Event.resolve_by_type = staticmethod(resolve_event_type)
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner
    EndpointConfig.session = kept_session
    LogisticRegressionClassifier._create_X = create_x
    Domain.is_empty = domain_is_empty
