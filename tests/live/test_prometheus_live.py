"""obsnb.load() against a real Prometheus 2.42 holding the backfilled fixture."""

from __future__ import annotations

import pytest

from suite import T0, LiveSuite, raw_points

pytestmark = pytest.mark.live


class TestPrometheusLive(LiveSuite):
    server = "prometheus"
    parse_error = "bad_data: 1:18: parse error: unclosed left parenthesis"
    parse_status = 400

    def test_default_chunks_are_under_the_11000_point_limit(self):
        """3 h at 0.25 s is split into four requests of at most 11,000 points (43,201 in all)."""
        df, calls = raw_points(self.url, "obsnb_queue_depth", T0, T0 + 3 * 3600, 0.25)
        assert calls == 4 and len(df) == 43_201

    def test_limit_learned_from_the_server_error(self):
        """Chunks sized for VictoriaMetrics (30,000) are refused by Prometheus; the query is split again at 11,000."""
        url = "victoriametrics://" + self.url.partition("://")[2]
        df, calls = raw_points(url, "obsnb_queue_depth", T0, T0 + 3 * 3600, 0.25)
        assert len(df) == 43_201
        assert calls >= 5  # 1+ refused, then 4
