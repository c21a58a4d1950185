"""KEDA's ExternalScaler over grpc.aio: servicer, per-workload timelines, TLS, RPC metrics."""

from scaler.service.plans import PlanCache, Timeline
from scaler.service.server import GrpcServer

__all__ = ["GrpcServer", "PlanCache", "Timeline"]
