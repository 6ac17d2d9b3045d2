"""Run the template's Lambda handlers in this process, as the Lambda runtime would call them.

Each function's module is loaded from its ``CodeUri`` folder under a unique module name (every
handler file is ``app.py``) and called with a context object carrying what Powertools reads.
Every function shares one environment (the template's ``Globals``); a function whose variables
disagree with another's stops the local stack, since one process cannot hold both.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.local.provision import FunctionSpec
from infra.local.template import UnsupportedTemplateFeature, local_code_dir

logger = logging.getLogger(__name__)


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


class FunctionRunner:
    """Loads and invokes the template's functions; one lock per function, as one Lambda instance."""

    def __init__(self, specs: Mapping[str, FunctionSpec], root: Path, region: str, account: str) -> None:
        self.specs = dict(specs)
        self.root = root
        self.region = region
        self.account = account
        self._modules: dict[str, ModuleType] = {}
        self._locks = {name: threading.Lock() for name in self.specs}

    def shared_environment(self) -> dict[str, str]:
        """The one environment every function agrees on; a clash is refused, naming it."""
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for spec in self.specs.values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    raise UnsupportedTemplateFeature(
                        f"environment variable {key} differs between {owner[key]} and {spec.logical_id}; "
                        "the local stack runs every function in one process, so put it in Globals"
                    )
                merged[key] = value
                owner[key] = spec.logical_id
        return merged

    def load_all(self) -> None:
        """Import every handler now, so a broken one stops the stack at start, not on first use."""
        for name in self.specs:
            self._handler(name)

    def _handler(self, name: str) -> Any:
        spec = self.specs[name]
        module_name, _, attribute = spec.handler.rpartition(".")
        if name not in self._modules:
            folder = local_code_dir(spec.code, self.root)
            path = folder / (module_name.replace(".", "/") + ".py")
            if not path.is_file():
                raise UnsupportedTemplateFeature(f"{spec.logical_id}: handler file {path} does not exist")
            unique = f"mast_local_fn_{spec.logical_id}"
            loader_spec = importlib.util.spec_from_file_location(unique, path)
            assert loader_spec and loader_spec.loader
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[unique] = module
            loader_spec.loader.exec_module(module)
            self._modules[name] = module
        handler = getattr(self._modules[name], attribute, None)
        if handler is None:
            raise UnsupportedTemplateFeature(f"{spec.logical_id}: {spec.handler} is not defined")
        return handler

    def invoke(self, name: str, event: Mapping[str, Any]) -> Any:
        """Call a function with ``event``; exceptions propagate as the Lambda service reports them."""
        if name not in self.specs:
            raise KeyError(f"no function {name}")
        spec = self.specs[name]
        handler = self._handler(name)
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=1024,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{self.account}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            deadline_ms=int(time.time() * 1000) + spec.timeout * 1000,
            log_group_name=f"/aws/lambda/{name}",
        )
        with self._locks[name]:
            return handler(dict(event), context)

    def name_of(self, logical_id: str) -> str:
        return next(name for name, spec in self.specs.items() if spec.logical_id == logical_id)
