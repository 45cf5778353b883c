"""plugnet's built-in components, registered through the same hooks as any third-party plugin."""

PLUGIN_MODULES: tuple[str, ...] = (
    "plugnet_builtins.activations",
    "plugnet_builtins.errors",
    "plugnet_builtins.fused",
    "plugnet_builtins.layers",
    "plugnet_builtins.conv",
    "plugnet_builtins.pooling",
    "plugnet_builtins.recurrent",
    "plugnet_builtins.reshaping",
    "plugnet_builtins.merging",
    "plugnet_builtins.regularization",
    "plugnet_builtins.normalization",
    "plugnet_builtins.embedding",
    "plugnet_builtins.optimizers",
    "plugnet_builtins.initializers",
    "plugnet_builtins.schedules",
    "plugnet_builtins.metrics",
    "plugnet_builtins.datasets",
    "plugnet_builtins.callbacks",
)
