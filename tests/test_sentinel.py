"""assert_sentinel_shutdown / assert_pipeline_shutdown: each diagnosis, each start method, xdist.

One inner pytest run (under two xdist workers) holds every case, so that the cost of
starting pytest is paid once; the implementations under test live in ``impls.py``,
top-level so that spawn and forkserver children can import them.
"""

from __future__ import annotations

import multiprocessing
import textwrap

import pytest

IMPLS = textwrap.dedent(
    """
    import multiprocessing
    import queue
    import time

    SENTINEL = None


    class Box:
        # An item without __eq__, whose repr shows its address.

        def __init__(self, n):
            self.n = n


    def producer(q, items, n_sentinels=1):
        for item in items:
            q.put(item)
        for _ in range(n_sentinels):
            q.put(SENTINEL)


    def consumer(q, out_q):
        while True:
            item = q.get()
            if item is SENTINEL:
                return
            out_q.put(item)


    def consumer_task_done(q, out_q):
        while True:
            item = q.get()
            q.task_done()
            if item is SENTINEL:
                return
            out_q.put(item)


    def producer_stop(q, items, n_sentinels=1):
        for item in items:
            q.put(item)
        for _ in range(n_sentinels):
            q.put("STOP")


    def consumer_stop(q, out_q):
        for item in iter(q.get, "STOP"):
            out_q.put(item)


    def producer_one_sentinel(q, items, n_sentinels=1):
        for item in items:
            q.put(item)
        q.put(SENTINEL)


    def producer_no_sentinel(q, items, n_sentinels=1):
        for item in items:
            q.put(item)


    def producer_extra_sentinel(q, items, n_sentinels=1):
        producer(q, items, n_sentinels + 1)


    def producer_sentinel_first(q, items, n_sentinels=1):
        for _ in range(n_sentinels):
            q.put(SENTINEL)
        for item in items:
            q.put(item)


    def producer_raises(q, items, n_sentinels=1):
        raise RuntimeError("producer broke")


    def consumer_two_sentinels(q, out_q):
        seen = 0
        while seen < 2:
            item = q.get()
            if item is SENTINEL:
                seen += 1
            else:
                out_q.put(item)


    def producer_item_after(q, items, n_sentinels=1):
        producer(q, items, n_sentinels)
        q.put("late")


    def consumer_one_more(q, out_q):
        consumer(q, out_q)
        q.get(timeout=120)  # LINE_AGAIN


    def consumer_until_empty(q, out_q):
        while True:
            try:
                item = q.get(timeout=0.3)
            except queue.Empty:
                return
            if item is SENTINEL:
                return
            out_q.put(item)


    def consumer_forwards_sentinel(q, out_q):
        while True:
            item = q.get()
            out_q.put(item)
            if item is SENTINEL:
                return


    def consumer_drops(q, out_q):
        while True:
            item = q.get()
            if item is SENTINEL:
                return
            if item != 3:
                out_q.put(item)


    def consumer_puts_sentinel_back(q, out_q):
        while True:
            item = q.get()
            if item is SENTINEL:
                q.put(SENTINEL)
                return
            out_q.put(item)


    def consumer_leaves_a_child(q, out_q):
        import subprocess
        subprocess.Popen(["sleep", "60"])
        consumer(q, out_q)


    def consumer_raises(q, out_q):
        q.get()
        raise ValueError("consumer broke")


    def consumer_spins(q, out_q):
        consumer(q, out_q)
        n = 0
        while True: n += 1  # LINE_SPIN


    def run_pipeline(items, n_consumers=1):
        q, out = multiprocessing.Queue(), multiprocessing.Queue()
        consumers = [
            multiprocessing.Process(target=consumer, args=(q, out)) for _ in range(n_consumers)
        ]
        prod = multiprocessing.Process(target=producer, args=(q, items, n_consumers))
        for p in consumers + [prod]:
            p.start()
        result = [out.get() for _ in items]
        for p in [prod] + consumers:
            p.join()
        return result


    def run_pipeline_reversed(items, n_consumers=1):
        return run_pipeline(items, n_consumers)[::-1]


    def run_pipeline_join_first(items, n_consumers=1, method=None):
        mp = multiprocessing.get_context(method)
        q, out = mp.Queue(), mp.Queue()
        consumers = [mp.Process(target=consumer, args=(q, out)) for _ in range(n_consumers)]
        prod = mp.Process(target=producer, args=(q, items, n_consumers))
        for p in consumers + [prod]:
            p.start()
        prod.join()
        for p in consumers:
            p.join()  # LINE_JOIN
        return [out.get() for _ in items]


    def run_pipeline_join_first_forkserver(items, n_consumers=1):
        # Its own forkserver inside the check's forkserver child: the server and the
        # processes it forks share one command line; the report must tell them apart.
        return run_pipeline_join_first(items, n_consumers, "forkserver")


    def run_pipeline_one_sentinel(items, n_consumers=1):
        q, out = multiprocessing.Queue(), multiprocessing.Queue()
        consumers = [
            multiprocessing.Process(target=consumer, args=(q, out)) for _ in range(n_consumers)
        ]
        prod = multiprocessing.Process(target=producer_one_sentinel, args=(q, items, n_consumers))
        for p in consumers + [prod]:
            p.start()
        result = [out.get() for _ in items]
        for p in [prod] + consumers:
            p.join()
        return result


    def run_pipeline_no_join(items, n_consumers=1):
        q, out = multiprocessing.Queue(), multiprocessing.Queue()
        multiprocessing.Process(target=time.sleep, args=(30,), name="forgotten").start()
        consumers = [
            multiprocessing.Process(target=consumer, args=(q, out)) for _ in range(n_consumers)
        ]
        prod = multiprocessing.Process(target=producer, args=(q, items, n_consumers))
        for p in consumers + [prod]:
            p.start()
        result = [out.get() for _ in items]
        for p in [prod] + consumers:
            p.join()
        return result[:-1]
    """
)

TESTS = textwrap.dedent(
    '''
    import pickle
    import re
    from pathlib import Path

    import psutil
    import pytest

    import impls
    from pytest_mpcheck.sentinel import (
        ShutdownReport,
        assert_sentinel_shutdown,
        check_pipeline_shutdown,
        check_sentinel_shutdown,
    )

    IMPLS = Path(impls.__file__).resolve()
    ITEMS = list(range(12))
    HELPERS = ("resource_tracker", "forkserver", "_mpcheck_reaper")


    def line_of(marker):
        for number, text in enumerate(IMPLS.read_text().splitlines(), start=1):
            if text.rstrip().endswith("# " + marker):
                return number
        raise LookupError(marker)


    @pytest.fixture(autouse=True)
    def nothing_survives():
        """Every process a check started is gone when it returns."""
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        reports = []
        yield reports
        for report in reports:
            for pid in map(int, re.findall(r"\\(pid (\\d+)\\)", report.stacks)):
                assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        left = [
            p for p in psutil.Process().children(recursive=True)
            if p.pid not in before and not any(h in " ".join(p.cmdline()) for h in HELPERS)
        ]
        assert not left, left


    def check(reports, *args, **kwargs):
        report = check_sentinel_shutdown(*args, **kwargs)
        reports.append(report)
        assert isinstance(report, ShutdownReport)
        # The kit runs the check in a sandboxed child and judges in pytest.
        assert pickle.loads(pickle.dumps(report)) == report
        return report


    def one(report, text):
        matches = [p for p in report.problems if text in p]
        assert matches, report.message
        return matches[0]


    # --- correct code, under every start method and every kind of queue


    @pytest.mark.parametrize("n", [1, 3])
    def test_correct_consumers_pass(mp_context, nothing_survives, n):
        report = check(nothing_survives, impls.producer, impls.consumer, ITEMS,
                       n_consumers=n, context=mp_context)
        assert report.ok, report.message
        assert report.stacks == ""
        assert report.start_method == mp_context.get_start_method()


    @pytest.mark.mp_start_methods("fork")
    @pytest.mark.parametrize("kind", ["joinable", "simple", "manager"])
    def test_other_queues_pass(mp_context, nothing_survives, kind):
        consumer = impls.consumer_task_done if kind == "joinable" else impls.consumer
        report = check(nothing_survives, impls.producer, consumer, ITEMS, n_consumers=2,
                       context=mp_context, queue_factory=kind)
        assert report.ok, report.message
        assert report.queue_kind == kind


    @pytest.mark.mp_start_methods("fork")
    def test_items_without_equality(mp_context, nothing_survives):
        boxes = [impls.Box(i) for i in range(5)]
        report = check(nothing_survives, impls.producer, impls.consumer, boxes,
                       n_consumers=2, context=mp_context)
        assert report.ok, report.message
        report = check_pipeline(nothing_survives, impls.run_pipeline, boxes, context=mp_context)
        assert report.ok, report.message


    @pytest.mark.mp_start_methods("spawn")
    def test_manager_fixture_queue_and_any_sentinel(mp_context, mp_manager, nothing_survives):
        report = check(nothing_survives, impls.producer_stop, impls.consumer_stop, ITEMS,
                       n_consumers=2, context=mp_context, queue_factory=mp_manager.Queue,
                       sentinel="STOP")
        assert report.ok, report.message


    @pytest.mark.mp_start_methods("forkserver")
    def test_fixture_form(sentinel_shutdown):
        report = sentinel_shutdown(impls.producer, impls.consumer, ITEMS, n_consumers=2)
        assert report.ok


    # --- each diagnosis


    def test_too_few_sentinels(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer_one_sentinel, impls.consumer, ITEMS,
                       n_consumers=3, context=mp_context)
        one(report, "2 of 3 consumers still waiting in `get()` after the producer finished: "
                    "put one sentinel per consumer")
        assert f'File "{IMPLS}", line' in report.stacks
        assert "waiting in Queue.get" in report.stacks
        assert "item = q.get()" in report.stacks


    @pytest.mark.mp_start_methods("fork")
    def test_no_sentinel(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer_no_sentinel, impls.consumer, ITEMS,
                       context=mp_context)
        one(report, "the producer never put a sentinel")
        assert len(report.problems) == 1, report.message


    @pytest.mark.mp_start_methods("fork")
    def test_extra_and_early_sentinels(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer_extra_sentinel, impls.consumer, ITEMS,
                       n_consumers=2, context=mp_context)
        one(report, "the producer put 3 sentinels for 2 consumers: put exactly one per consumer")
        report = check(nothing_survives, impls.producer_sentinel_first, impls.consumer, ITEMS,
                       context=mp_context)
        one(report, "the producer put a sentinel before the last item")
        report = check(nothing_survives, impls.producer, impls.consumer_puts_sentinel_back, ITEMS,
                       n_consumers=2, context=mp_context)
        one(report, "2 sentinels left in the queue after the consumers finished: a consumer put "
                    "its sentinel back")


    @pytest.mark.mp_start_methods("fork")
    def test_consumer_takes_after_its_sentinel(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_two_sentinels, ITEMS,
                       n_consumers=2, context=mp_context)
        one(report, "took an item after its sentinel: None (another consumer's sentinel)")
        report = check(nothing_survives, impls.producer_item_after, impls.consumer_two_sentinels,
                       ITEMS, n_consumers=1, context=mp_context, check_needed=False)
        assert any(
            "consumer 1 took an item after its sentinel: 'late'" in p for p in report.problems
        ), report.message


    @pytest.mark.mp_start_methods("fork")
    def test_consumer_calls_get_again(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_one_more, ITEMS,
                       context=mp_context)
        one(report, "consumer 1 called get() again after its sentinel and is still waiting")
        assert f'File "{IMPLS}", line {line_of("LINE_AGAIN")}, in consumer_one_more' in (
            report.stacks
        )


    @pytest.mark.mp_start_methods("fork")
    def test_sentinel_is_needed(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_until_empty, ITEMS,
                       n_consumers=2, context=mp_context)
        one(report, "with 1 sentinel for 2 consumers, consumer")
        one(report, "still returned without taking one")
        report = check(nothing_survives, impls.producer, impls.consumer_until_empty, ITEMS,
                       context=mp_context)
        one(report, "with no sentinel in the queue, consumer 1 still returned")


    @pytest.mark.mp_start_methods("fork")
    def test_forwarding_mistakes(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_forwards_sentinel, ITEMS,
                       context=mp_context)
        one(report, "consumer 1 forwarded the sentinel to out_q")
        report = check(nothing_survives, impls.producer, impls.consumer_drops, ITEMS,
                       context=mp_context)
        one(report, "consumer 1 took 12 items but forwarded 11 to out_q")


    @pytest.mark.mp_start_methods("fork")
    def test_task_done_missing(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer, ITEMS, n_consumers=2,
                       context=mp_context, queue_factory="joinable")
        one(report, "consumers called task_done() 0 times for 14 items taken")


    @pytest.mark.mp_start_methods("fork")
    def test_process_left_running(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_leaves_a_child, ITEMS,
                       context=mp_context, check_needed=False)
        one(report, "consumer 1 left 1 process running after it ended: pid ")
        one(report, "sleep 60")
        pid = int(re.search(r"running after it ended: pid (\\d+)", report.message).group(1))
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


    @pytest.mark.mp_start_methods("forkserver")
    def test_exceptions_are_shown(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer_raises, impls.consumer, ITEMS,
                       context=mp_context)
        one(report, "the producer raised an exception")
        one(report, "RuntimeError: producer broke")
        report = check(nothing_survives, impls.producer, impls.consumer_raises, ITEMS,
                       context=mp_context)
        one(report, "ValueError: consumer broke")


    @pytest.mark.mp_start_methods("fork")
    def test_busy_consumer_is_reported_and_killed(mp_context, nothing_survives):
        report = check(nothing_survives, impls.producer, impls.consumer_spins, ITEMS,
                       context=mp_context, timeout=6)
        one(report, "consumer 1 did not finish within 6 s")
        assert f'File "{IMPLS}", line {line_of("LINE_SPIN")}, in consumer_spins' in (
            report.stacks
        ), report.stacks
        assert "running (busy, not waiting for anything)" in report.stacks
        assert report.exitcodes["consumer 1"] is None


    @pytest.mark.mp_start_methods("spawn")
    def test_local_functions_cannot_be_sent(mp_context, nothing_survives):
        def consumer(q, out_q):
            impls.consumer(q, out_q)

        def run_pipeline(items, n_consumers=1):
            return impls.run_pipeline(items, n_consumers)

        report = check(nothing_survives, impls.producer, consumer, ITEMS, n_consumers=2,
                       context=mp_context)
        one(report, "consumer 1 could not be started under spawn")
        one(report, "define it at the top level of a module")
        report = check_pipeline(nothing_survives, run_pipeline, ITEMS, context=mp_context)
        one(report, "run_pipeline could not be started under spawn")


    # --- whole pipelines


    def check_pipeline(reports, *args, **kwargs):
        report = check_pipeline_shutdown(*args, **kwargs)
        reports.append(report)
        assert pickle.loads(pickle.dumps(report)) == report
        return report


    def test_correct_pipeline(mp_context, nothing_survives):
        report = check_pipeline(nothing_survives, impls.run_pipeline, ITEMS, n_consumers=2,
                                context=mp_context)
        assert report.ok, report.message


    @pytest.mark.mp_start_methods("fork")
    def test_correct_pipeline_one_consumer_keeps_order(mp_context, nothing_survives):
        report = check_pipeline(nothing_survives, impls.run_pipeline, ITEMS, context=mp_context)
        assert report.ok, report.message
        report = check_pipeline(nothing_survives, impls.run_pipeline_reversed, ITEMS,
                                context=mp_context)
        one(report, "with one consumer, run_pipeline must return the items in the order")


    @pytest.mark.mp_start_methods("forkserver", "fork")
    def test_pipeline_joined_before_draining(mp_context, mp_start_method, nothing_survives):
        items = [b"x" * 1024] * 400
        pipeline = (impls.run_pipeline_join_first_forkserver if mp_start_method == "forkserver"
                    else impls.run_pipeline_join_first)
        report = check_pipeline(nothing_survives, pipeline, items,
                                n_consumers=2, context=mp_context, timeout=60)
        one(report, "run_pipeline is deadlocked")
        one(report, "a child is blocked flushing its queue because it was joined before the "
                    "queue was drained")
        assert f'File "{IMPLS}", line {line_of("LINE_JOIN")}, in run_pipeline_join_first' in (
            report.stacks
        ), report.stacks
        assert "waiting in BaseProcess.join" in report.stacks


    @pytest.mark.mp_start_methods("fork")
    def test_pipeline_too_few_sentinels(mp_context, nothing_survives):
        report = check_pipeline(nothing_survives, impls.run_pipeline_one_sentinel, ITEMS,
                                n_consumers=3, context=mp_context, timeout=60)
        one(report, "run_pipeline is deadlocked")
        one(report, "2 of 3 consumers still waiting in `get()` after the producer finished")


    @pytest.mark.mp_start_methods("fork")
    def test_pipeline_leaves_a_process_and_loses_an_item(mp_context, nothing_survives):
        report = check_pipeline(nothing_survives, impls.run_pipeline_no_join, ITEMS,
                                context=mp_context)
        one(report, "process forgotten was still running when run_pipeline returned")
        one(report, "1 item never came out of the pipeline: [11]")


    # --- the assertion fails the test with the learner-facing text


    @pytest.mark.mp_start_methods("fork")
    def test_assertion_fails(mp_context):
        assert_sentinel_shutdown(impls.producer_one_sentinel, impls.consumer, ITEMS,
                                 n_consumers=3, context=mp_context)
    '''
)


def _methods() -> int:
    return len(
        [m for m in ("spawn", "forkserver", "fork") if m in multiprocessing.get_all_start_methods()]
    )


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_every_diagnosis_under_xdist(pytester: pytest.Pytester) -> None:
    """Each case names its problem; stuck processes are shown where they are, then killed."""
    pytester.makepyfile(impls=IMPLS, test_shutdown=TESTS)
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "-p", "no:randomly", "-rf", timeout=300
    )
    m = _methods()
    # Under every method: correct consumers (1 and 3), too few sentinels, a correct
    # pipeline; the other cases are narrowed to one or two methods each.
    per_method = 2 + 1 + 1
    narrowed = 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 1
    result.assert_outcomes(passed=per_method * m + narrowed, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sentinel check under fork (3 consumers, 12 items):*",
            "*- 2 of 3 consumers still waiting in `get()` after the producer finished: "
            "put one sentinel per consumer*",
        ]
    )
