// libkpg-bench-alloc-counter.so: counts the heap allocations of the process it is preloaded into
// (LD_PRELOAD), for kpg-bench-fanout's "allocations per delivery".
//
// Every malloc, calloc, realloc (except realloc(p, 0)), memalign, aligned_alloc, posix_memalign
// and valloc adds one; operator new reaches malloc, so C++ allocations count too. free is not
// interposed. The counts live in a file named by KPG_ALLOC_COUNTS, mapped shared, so that the
// benchmark reads them while the process runs: kSlots cache-line-sized counters, each thread adding
// to its own slot (a single shared counter would bounce between cores and inflate the CPU figures
// the benchmark takes at the same time). The sum of the slots is the count.
//
// No C++ runtime is used here: this code runs inside malloc.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
}

namespace {

constexpr unsigned kSlots = 64;

struct alignas(64) Slot {
  std::atomic<std::uint64_t> count;
};
static_assert(sizeof(Slot) == 64);

// Counts made before the file is mapped (the dynamic loader and libc allocate early).
Slot early_slots[kSlots];
Slot* slots = early_slots;
std::atomic<unsigned> threads_seen{0};
// initial-exec: a preloaded library's TLS is static, so reading it never allocates (the default
// model could call __tls_get_addr, which may allocate: recursion inside malloc).
__attribute__((tls_model("initial-exec"))) thread_local unsigned slot_of_thread = kSlots;

inline void count_one() {
  unsigned slot = slot_of_thread;
  if (slot == kSlots) {
    slot = threads_seen.fetch_add(1, std::memory_order_relaxed) % kSlots;
    slot_of_thread = slot;
  }
  slots[slot].count.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((constructor)) void map_counts() {
  const char* path = std::getenv("KPG_ALLOC_COUNTS");
  if (path == nullptr) return;
  const int fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  void* mapped = MAP_FAILED;
  if (::ftruncate(fd, sizeof(Slot) * kSlots) == 0) {
    mapped = ::mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (mapped == MAP_FAILED) return;
  auto* shared = static_cast<Slot*>(mapped);
  for (unsigned i = 0; i < kSlots; ++i) {
    shared[i].count.store(early_slots[i].count.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  }
  slots = shared;
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) {
  count_one();
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) {
  count_one();
  return __libc_calloc(count, size);
}

void* realloc(void* ptr, std::size_t size) {
  if (ptr == nullptr || size != 0) count_one();
  return __libc_realloc(ptr, size);
}

void* memalign(std::size_t alignment, std::size_t size) {
  count_one();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count_one();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  count_one();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(std::size_t size) {
  count_one();
  return __libc_valloc(size);
}

}  // extern "C"
