#include "parallel.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mojo::cpu {
namespace {

// MOJO_CPU_THREADS overrides the core count (tests pin it to compare single- and multi-threaded runs).
int64_t thread_budget() {
  static const int64_t budget = [] {
    if (const char *env = std::getenv("MOJO_CPU_THREADS")) {
      long v = std::strtol(env, nullptr, 10);
      if (v > 0) return int64_t(v);
    }
    return int64_t(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return budget;
}

constexpr int64_t kMinWorkPerThread = 1 << 16;

}  // namespace

void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)> &body) {
  if (n <= 0) return;
  int64_t work = n * std::max<int64_t>(cost_per_item, 1);
  int64_t threads = std::min({thread_budget(), n, std::max<int64_t>(1, work / kMinWorkPerThread)});
  if (threads <= 1) {
    body(0, n);
    return;
  }
  int64_t chunk = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int64_t t = 1; t < threads; ++t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back(body, b, e);
  }
  body(0, std::min(n, chunk));
  for (auto &th : pool) th.join();
}

}  // namespace mojo::cpu
