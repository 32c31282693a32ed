#!/usr/bin/env python3
"""`replyguard scan --input jsonl -` as a PySpark stage: each partition of a JSON Lines archive is piped
through the scan binary with RDD.pipe; the decision records (one JSON line per message) are saved as text.

Runs on a cluster with spark-submit, or in local mode from a plain Python with PySpark installed:

    python scan_stage.py --master 'local[2]' --binary .build/release/replyguard --rules rules \
        --input archive/ --output decisions/
    spark-submit --archives replyguard-stage.tar.gz#rg \
        scan_stage.py --shipped-as rg --input hdfs:///archive/ --output hdfs:///decisions/
    python scan_stage.py --master 'local[2]' --bundle replyguard-stage.tar.gz --input archive/ --output decisions/

The binary and the rules reach the executors the way a cluster ships anything: --binary adds the binary
with SparkContext.addFile, --rules packs the directory into a .tar.gz added with SparkContext.addArchive
(each keeps its base name; addFile takes a local directory only in local mode); --bundle ships one
.tar.gz holding replyguard and rules/ with SparkContext.addArchive (unpacked as rg/ on every executor);
with none of them the job expects what spark-submit --files / --archives shipped: `replyguard` and
`rules` under SparkFiles' root, or under --shipped-as DIR. Each executor finds them through SparkFiles.
The summary (records, partitions, seconds) goes to standard error, and as JSON to --summary FILE.
"""
import argparse
import json
import os
import shlex
import shutil
import sys
import tarfile
import tempfile
import time

from pyspark import SparkConf, SparkContext, SparkFiles

# RDD.pipe's checkCode fails a task on any non-zero status, but scan exits 1 whenever a message is
# flagged: that is data, not a failure. This wrapper turns 1 into 0 and passes every other status on, so
# 2 (rules that do not load, an input it cannot read, an unwritable stdout, a message over
# --max-message-size), 64 (usage), 126/127 (binary not executable / missing, e.g. a shared library
# missing on the executor) and 128+N (killed by signal N) fail the task, and Spark retries it and then
# fails the job. Standard error stays the executor's log; standard output carries only the records.
EXIT_1_IS_DATA = '"$0" "$@"; s=$?; if [ "$s" -eq 1 ]; then exit 0; fi; exit "$s"'


def scan_command(files_root: str, binary_name: str, rules_name: str, jobs: int, extra: list) -> str:
    """The command each partition is piped through, with paths resolved under SparkFiles' root."""
    binary = os.path.join(files_root, binary_name)
    rules = os.path.join(files_root, rules_name)
    # RDD.pipe splits the command with shlex, so the quoting here is what the executor runs.
    argv = ["sh", "-c", EXIT_1_IS_DATA, binary, "scan", "--rules", rules, "--input", "jsonl",
            "--no-progress", "-j", str(jobs)] + extra + ["-"]
    return shlex.join(argv)


def pack_rules(rules: str, staging: str) -> str:
    """The rules directory's contents as a .tar.gz (entries relative to the directory)."""
    path = os.path.join(staging, os.path.basename(os.path.abspath(rules)) + ".tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        for name in sorted(os.listdir(rules)):
            archive.add(os.path.join(rules, name), arcname=name)
    return path


REPLACED_ERROR = ("the line holds U+FFFD, which is what Spark makes of invalid UTF-8: escalated by the stage "
                  "(fail closed), as a local scan escalates invalid UTF-8")


def escalate_replaced(pair):
    """The decision record for one input line, raised to at least `escalate` (with an error saying why)
    when the line holds U+FFFD."""
    line, record = pair
    if "\ufffd" not in line:
        return record
    decision = json.loads(record)
    if decision["verdict"] in ("allow", "mask"):
        decision["verdict"] = "escalate"
    decision["errors"].insert(0, {"rule": None, "message": REPLACED_ERROR})
    return json.dumps(decision, ensure_ascii=False, separators=(",", ":"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="JSON Lines archive: a file, directory or glob Spark's textFile reads")
    parser.add_argument("--output", required=True, help="directory for the decision records (must not exist)")
    parser.add_argument("--master", help="Spark master, e.g. local[2] (default: what spark-submit says)")
    parser.add_argument("--binary", help="replyguard binary to ship with SparkContext.addFile")
    parser.add_argument("--rules", help="rules directory to ship (packed into a .tar.gz for SparkContext.addArchive)")
    parser.add_argument("--bundle", help="a .tar.gz holding replyguard and rules/ at its top, shipped with "
                        "SparkContext.addArchive as #rg (what spark-submit --archives bundle.tar.gz#rg does)")
    parser.add_argument("--shipped-as", default="", help="with neither --binary, --rules nor --bundle: the directory under "
                        "SparkFiles' root that holds replyguard and rules/ (e.g. rg after spark-submit --archives "
                        "replyguard-stage.tar.gz#rg; default: both at the top)")
    parser.add_argument("--partitions", type=int, default=0, help="minimum number of input partitions")
    parser.add_argument("--jobs", type=int, default=1, help="scan's matching threads per task (match spark.task.cpus; default 1)")
    parser.add_argument("--scan-arg", action="append", default=[], help="one more argument for scan (repeatable), e.g. --text-field=body")
    parser.add_argument("--ld-library-path", help="LD_LIBRARY_PATH for scan on the executors, e.g. ./libs when the "
                        "shared libraries travel in an archive (relative paths are the executor's working directory)")
    parser.add_argument("--summary", help="write the run's numbers here as JSON")
    args = parser.parse_args()

    conf = SparkConf().setAppName("replyguard-scan-stage")
    if args.master:
        conf.setMaster(args.master)
    conf.set("spark.ui.enabled", "false")
    conf.set("spark.ui.showConsoleProgress", "false")
    conf.set("spark.task.maxFailures", "1" if args.master and args.master.startswith("local") else "4")
    staging = tempfile.mkdtemp(prefix="replyguard-stage-")
    sc = SparkContext(conf=conf)
    sc.setLogLevel("WARN")
    started = time.monotonic()
    try:
        # A shipped file or directory keeps its base name under SparkFiles' root.
        binary_name = os.path.join(args.shipped_as, "replyguard") if args.shipped_as else "replyguard"
        rules_name = os.path.join(args.shipped_as, "rules") if args.shipped_as else "rules"
        if args.binary:
            binary_name = os.path.basename(os.path.abspath(args.binary))
            sc.addFile(os.path.abspath(args.binary))
        if args.rules:
            # addFile(directory, recursive=True) takes a local directory only in local mode (a cluster
            # needs it on HDFS), so the rules travel as an archive, unpacked under their own name.
            rules_name = os.path.basename(os.path.abspath(args.rules))
            sc.addArchive(pack_rules(args.rules, staging) + "#" + rules_name)
        if args.bundle:
            sc.addArchive(os.path.abspath(args.bundle) + "#rg")
            binary_name, rules_name = "rg/replyguard", "rg/rules"
        # Where the shipped files are is an executor's fact: SparkFiles' root is the executor's working
        # directory on YARN, Kubernetes and standalone clusters (".") and the driver's temporary
        # directory in local mode. Ask an executor, in the same deployment, and use its answer in the
        # pipe command (which RDD.pipe fixes on the driver). The task also fails early, with a clear
        # message, when nothing was shipped.
        def locate(_):
            root = SparkFiles.getRootDirectory()
            missing = [n for n in (binary_name, rules_name) if not os.path.exists(os.path.join(root, n))]
            return root, missing
        files_root, missing = sc.parallelize([0], 1).map(locate).first()
        if missing:
            print(f"scan stage: not shipped to the executors: {', '.join(missing)} "
                  "(pass --binary/--rules or --bundle, or spark-submit --archives replyguard-stage.tar.gz#rg with --shipped-as rg)", file=sys.stderr)
            return 2

        command = scan_command(files_root, binary_name, rules_name, args.jobs, args.scan_arg)
        # RDD.pipe starts the command with exactly this environment (nothing of the executor's).
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
        if args.ld_library_path:
            env["LD_LIBRARY_PATH"] = args.ld_library_path
        print(f"scan stage: {command}", file=sys.stderr)

        lines = sc.textFile(args.input, args.partitions) if args.partitions > 0 else sc.textFile(args.input)
        partitions = lines.getNumPartitions()
        records_in, replaced = sc.accumulator(0), sc.accumulator(0)

        def count(partition):
            for line in partition:
                records_in.add(1)  # in JSON Lines every line is a message, an empty one is escalated
                if "\ufffd" in line:
                    replaced.add(1)
                yield line

        lines.cache()  # read once: piped, then zipped with its decisions
        piped = lines.mapPartitions(count).pipe(command, env=env, checkCode=True)
        # Fail closed on what Spark's decoding hides: every line holding U+FFFD (invalid UTF-8 arrives so)
        # is escalated at least, as a local scan escalates invalid UTF-8. JSON Lines: one record a line.
        decisions = lines.zip(piped).map(escalate_replaced)
        job_started = time.monotonic()
        try:
            decisions.saveAsTextFile(args.output)
        except Exception as error:  # a task's scan exited with 2, 64, 126, 127 or a signal; Spark gave up
            first = next((line for line in str(error).splitlines() if "PIPE_FUNCTION_EXITED" in line), str(error).splitlines()[0])
            print(f"scan stage: the job failed, nothing is committed to {args.output}: {first.strip()[:600]}", file=sys.stderr)
            return 2
        job_seconds = time.monotonic() - job_started
        records_out = sc.textFile(args.output).count()
        summary = {"records_in": records_in.value, "records_out": records_out, "partitions": partitions,
                   "job_seconds": round(job_seconds, 2), "total_seconds": round(time.monotonic() - started, 2),
                   "master": sc.master, "spark": sc.version, "command": command}
        print("scan stage: " + ", ".join(f"{k} {summary[k]}" for k in
              ("records_in", "records_out", "partitions", "job_seconds", "master", "spark")), file=sys.stderr)
        if replaced.value:
            # textFile decodes each line as UTF-8 on the JVM, putting U+FFFD where bytes are invalid, and
            # RDD.pipe can only pass text: a line a local scan escalates as invalid UTF-8 reaches this
            # stage readable. These lines may hold a U+FFFD written on purpose; check them before trusting
            # their verdicts (docs/spark.md).
            print(f"scan stage: {replaced.value} line(s) hold U+FFFD, which is what Spark makes of invalid UTF-8: "
                  "escalated at least (a U+FFFD written on purpose is escalated too)", file=sys.stderr)
        summary["lines_with_replacement_character"] = replaced.value
        if args.summary:
            with open(args.summary, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
                f.write("\n")
        if records_in.value != records_out:
            print(f"scan stage: {records_in.value} records in, {records_out} decision records out", file=sys.stderr)
            return 1
        return 0
    finally:
        sc.stop()
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
