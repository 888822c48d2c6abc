"""obsnb.load() against a real VictoriaMetrics 1.79 holding the same backfilled fixture."""

from __future__ import annotations

import pytest

import obsnb as ob
from suite import T0, LiveSuite, raw_points

pytestmark = pytest.mark.live


class TestVictoriaMetricsLive(LiveSuite):
    server = "victoriametrics"
    parse_error = 'cannot execute query: argList: unexpected token ""'
    parse_status = 422

    def test_victoriametrics_chunks_use_its_30000_point_limit(self):
        """victoriametrics:// fetches 3 h at 0.25 s in two requests (30,000 + 13,201 points)."""
        df, calls = raw_points(self.url, "obsnb_queue_depth", T0, T0 + 3 * 3600, 0.25)
        assert calls == 2 and len(df) == 43_201

    def test_too_high_max_points_is_split_again_from_the_server_error(self):
        """max_points=50000 is refused with -search.maxPointsPerTimeseries=30000; obsnb splits at 30,000 and gets all."""
        df, calls = raw_points(self.url, "obsnb_queue_depth", T0, T0 + 3 * 3600, 0.25, max_points=50_000)
        assert len(df) == 43_201 and calls == 3

    def test_count_over_time_uses_victoriametrics_window(self):
        """count_over_time(obsnb_up[1h]) at T0+1h is 240 on VictoriaMetrics (window open on the left)."""
        df = ob.load(self.url, query='count_over_time(obsnb_up{service="batch"}[1h])', time=T0 + 3600)
        assert df["value"].tolist() == [240.0]
