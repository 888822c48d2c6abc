"""The aggregation spec and the plans backends answer it with (obsnb.sources.pushdown); no server needed."""

from __future__ import annotations

import pytest

import obsnb as ob
from obsnb import registry
from obsnb.errors import UsageError
from obsnb.sources.prometheus import Prometheus
from obsnb.sources.pushdown import Aggregation, plan, quantile_column

H = 3600 * 10**9


def test_quantiles_become_one_histogram_quantile_query_per_quantile():
    """Each quantile is its own PromQL query, answered in a column named after it; the step stays the caller's."""
    spec = Aggregation("quantiles", "http_request_duration_seconds", by=("service",), bucket="5m",
                       quantiles=(0.5, 0.95), matchers={"code": "200"})
    p = plan("prometheus://prom:9090", spec, start_ns=0, end_ns=H)
    inner = 'sum by (le, service) (rate(http_request_duration_seconds_bucket{code="200"}[5m]))'
    assert p.queries == [("p50", f"histogram_quantile(0.5, {inner})"), ("p95", f"histogram_quantile(0.95, {inner})")]
    assert p.step_ns is None


@pytest.mark.parametrize("window_h, absence, step, step_ns", [
    (3, "10m", None, 15 * 10**9),     # the automatic step over 3 h is 15 s, finer than the threshold
    (24, "10s", None, 10 * 10**9),    # over 24 h it is 2 m: the threshold (10 s) is finer
    (3, "10m", "30s", 30 * 10**9),    # a step given by the caller wins
])
def test_absence_is_one_absent_over_time_query_at_a_step_no_coarser_than_the_threshold(window_h, absence, step, step_ns):
    """The silence query and the evaluation step its answer is read at."""
    spec = Aggregation("absence", "up", absence=absence, matchers={"job": "batch"})
    p = plan("victoriametrics://vm:8428", spec, start_ns=0, end_ns=window_h * H, step=step)
    assert p.queries == [("absent", f'absent_over_time(up{{job="batch"}}[{absence}])')]
    assert p.step_ns == step_ns


def test_a_named_source_is_planned_by_its_url_scheme(tmp_path):
    """An obsnb.toml name resolves to its URL's backend, like ob.load() resolves it."""
    cfg = tmp_path / "obsnb.toml"
    cfg.write_text('[sources.prod-prom]\nurl = "mimir://mimir:8080/prometheus"\n')
    ob.set_option("config", str(cfg))
    try:
        p = plan("prod-prom", Aggregation("quantiles", "x", quantiles=(0.99,)), start_ns=None, end_ns=None)
    finally:
        ob.set_option("config", None)
    assert p.queries == [("p99", "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))")]


def test_a_backend_without_a_compiler_says_so():
    """Jaeger has no compiler: a clear error rather than PromQL sent to a trace server."""
    with pytest.raises(UsageError, match=r"jaeger:// cannot compute quantiles server-side yet"):
        plan("jaeger://jaeger:16686", Aggregation("quantiles", "x", quantiles=(0.5,)), start_ns=None, end_ns=None)


def test_loki_quantiles_are_logql_evaluated_at_each_buckets_last_nanosecond():
    """(t - 60s, t] at t = b + 60s - 1ns is exactly the bucket [b, b + 60s) the in-memory helpers use."""
    spec = Aggregation("quantiles", "duration_ms", by=("service",), quantiles=(0.5,), where='{app="api"} | json')
    p = plan("loki://loki:3100", spec, start_ns=H + 5, end_ns=2 * H, step="1m")
    assert p.queries == [("count", 'sum by (service) (count_over_time({app="api"} | json [60s]))'),
                         ("p50", 'quantile_over_time(0.5, {app="api"} | json | unwrap duration_ms [60s]) by (service)')]
    assert p.eval_window == (H, 2 * H) and p.load_options == {"evaluate_at": "bucket_end"}


def test_an_unknown_scheme_gets_the_registry_error():
    with pytest.raises(UsageError, match=r"unknown source scheme 'nosuch://'"):
        plan("nosuch://h:1", Aggregation("quantiles", "x", quantiles=(0.5,)), start_ns=None, end_ns=None)


def test_a_registered_prometheus_subclass_speaks_promql():
    """A backend registered by the user that extends Prometheus is planned with Prometheus' compiler."""

    class MyProm(Prometheus):
        pass

    registry.register_backend("myprom", MyProm)
    try:
        p = plan("myprom://h:9090", Aggregation("absence", "up", absence="1m"), start_ns=0, end_ns=H, step="5s")
    finally:
        registry.BACKENDS.pop("myprom")
    assert p.queries == [("absent", "absent_over_time(up[1m])")]
    assert p.step_ns == 5 * 10**9


def test_the_spec_rejects_an_unknown_measure():
    with pytest.raises(UsageError, match="unknown aggregation measure 'median'"):
        Aggregation("median", "x")


@pytest.mark.parametrize("q, name", [(0.5, "p50"), (0.95, "p95"), (0.999, "p99.9"), (1, "p100")])
def test_quantile_columns_are_named_like_the_in_memory_helper(q, name):
    assert quantile_column(q) == name
