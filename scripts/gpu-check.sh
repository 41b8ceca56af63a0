#!/usr/bin/env bash
# Runs on a machine with an NVIDIA GPU (the device machine): starts a CUDA workload when PyTorch is
# there, then the GPU reader against the real driver, printing its metrics and CPU time per scrape.
# Usage: scripts/gpu-check.sh [path-to-gpucheck]
set -u
bin=${1:-build/gpucheck}
nvidia-smi -L || echo "nvidia-smi not found"
port=8765
workload=""
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  python3 - "$port" <<'PY' &
import socket, sys, time, torch
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()  # a "server" port for the join
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)  # bf16: the tensor pipe
x = torch.empty(int(2 * 2**30 // 4), device="cuda")  # 2 GiB more
end = time.time() + 40
while time.time() < end:
    (a @ b).sum().item()
PY
  workload=$!
  sleep 8
  echo "workload PID $workload (PyTorch bf16 matmuls, ~2.3 GiB)"
else
  echo "no PyTorch with CUDA here: reading the idle GPUs"
fi
"$bin" -scrapes 5 -interval 1s -server-port "$port"
rc=$?
[ -n "$workload" ] && kill "$workload" 2>/dev/null
exit $rc
