"""oslo.config option discovery, as ``oslo_concurrency.opts``.

``list_opts`` is registered under the ``oslo.config.opts`` entry point
namespace as ``fastlock``, so ``oslo-config-generator --namespace
fastlock`` documents the ``[oslo_concurrency]`` options.
"""

from fastlock._config import list_opts

__all__ = [
    'list_opts',
]
