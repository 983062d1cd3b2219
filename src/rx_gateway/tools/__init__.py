"""Tools around the gateway, not the gateway: the synthetic data generator, the demo and the
benchmark. The runtime (`rx-gateway serve`, bootstrap, the gRPC server) imports nothing from
here; tests/unit/test_layers.py checks that.
"""
