"""The gRPC face: servicer, errors -> rich statuses, domain -> proto mapping, per-caller quotas, the listener's
credentials and limits, and the health probe. With the app wiring and telemetry's gRPC instrumentation, the only
layer that imports grpc."""
