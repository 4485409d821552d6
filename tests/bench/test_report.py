"""The ratios and parsed figures `make bench` prints (no speed is asserted anywhere)."""

from __future__ import annotations

import pytest

from bench.workloads_import import parse_summary
from bench.workloads_report import Figure, Table, enforcement_cost, ratio


def figure(workload: str, server: str, throughput: float, store: str = "sqlite") -> Figure:
    return Figure(workload, server, store, throughput)


def test_ratio_is_ours_over_the_baseline_with_two_decimals() -> None:
    assert ratio(figure("read", "fhirip", 300), figure("read", "floor", 1200)) == "0.25"


def test_ratio_without_a_baseline_or_with_a_zero_baseline_is_a_dash() -> None:
    assert ratio(figure("read", "fhirip", 300), None) == "-"
    assert ratio(figure("read", "fhirip", 300), figure("read", "peer", 0)) == "-"


def test_enforcement_cost_is_the_share_of_unenforced_throughput_lost() -> None:
    assert enforcement_cost(figure("read", "fhirip", 600), figure("read", "unenforced", 800)) == "25 %"
    assert enforcement_cost(figure("read", "fhirip", 600), None) == "-"


def test_fhirip_rows_compare_both_stores_with_the_one_peer_figure() -> None:
    table = Table([figure("read", "fhirip", 400), figure("read", "fhirip", 200, "postgresql"),
                   figure("read", "floor", 800), figure("read", "peer", 100)], peer_missing={})
    by_store = {row[2]: row for row in table.rows() if row[1] == "fhirip"}
    assert by_store["SQLite"][-2:] == ["0.50", "4.00"]
    assert by_store["PostgreSQL"][-2:] == ["-", "2.00"]


def test_a_workload_the_peer_cannot_run_is_marked_and_explained() -> None:
    table = Table([figure("current", "fhirip", 50)], peer_missing={"current": "no $current operation"})
    assert table.rows()[0][-1] == "- (n/a)"
    assert any("no $current operation" in note for note in table.notes())


def test_import_summary_line_gives_imported_skipped_and_rate() -> None:
    output = ("plans read 30, imported 28, already done 0, skipped 2; resources created 900, existing 0; "
              "values lost 3; 4.1 plans/s\n")
    assert parse_summary(output) == (28, 2, 4.1)


def test_output_without_an_import_summary_is_an_error_that_shows_it() -> None:
    with pytest.raises(ValueError, match="no import summary.*Traceback"):
        parse_summary("Traceback (most recent call last): ...")
