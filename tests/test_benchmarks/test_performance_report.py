"""The performance report states its goals from the right rows (no timing here: only the report's arithmetic)."""
import json

from benchmarks import bench_peers


def _row(seconds):
    return {"seconds": seconds, "matvecs": 10, "rel_error": 1e-15, "certified": True}


def test_the_speed_goal_is_read_from_the_reference_problem_after_a_json_round_trip(tmp_path):
    """``performance.json`` is written with sorted keys: read back, another problem comes first. The goal line
    must still compare the reference problem's rows (it once printed the CNN's 250 s against 148 s)."""
    cert, peer = bench_peers.GOAL_PAIR
    other = "A problem that sorts first"
    assert other < bench_peers.REFERENCE
    res = {"problem": "p", "num_params": 1, "versions": {}, "machine": "m", "gradient_ms": 1.0,
           "hvp_over_gradient": {}, "defaults": {}, "peer_errors": {},
           "topk_by_problem": {bench_peers.REFERENCE: {"num_params": 1, "5": {cert: _row(0.1), peer: _row(0.4)}},
                               other: {"num_params": 2, "5": {cert: _row(250.0), peer: _row(148.0)}}}}
    res = json.loads(json.dumps(res, sort_keys=True))
    bench_peers.write(res, str(tmp_path / "performance"))
    text = (tmp_path / "performance.md").read_text()
    assert "0.100 s against 0.400 s, 4.00x faster; goal at least 3x: met" in text
    assert "250.000 s against" not in text
    assert text.index(f"## {bench_peers.REFERENCE}") < text.index(f"## {other}")
