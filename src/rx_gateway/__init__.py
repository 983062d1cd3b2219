"""rx-gateway: a real-time pharmacy point-of-sale adjudication gateway."""

__version__ = "0.1.0"
__all__ = ["__version__"]
