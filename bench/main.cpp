// failover benchmarks: the allocation counter and main().
#include "alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>

// ---------------------------------------------------------------------------------------------
// Counting allocations. A constant-initialised thread_local integer needs no TLS init wrapper
// and never allocates, so an allocation function can bump it at any time.

// clang links its ThreadSanitizer runtime statically, with strong definitions of every operator
// new/delete: replacing them there fails to link. That build counts through the sanitizer's
// malloc hook instead (every heap allocation of the thread, operator new included).
#if defined(__clang__) && defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define FAILOVER_BENCH_SANITIZER_HOOKS 1
#  endif
#endif
#ifndef FAILOVER_BENCH_SANITIZER_HOOKS
#  define FAILOVER_BENCH_SANITIZER_HOOKS 0
#endif

#if FAILOVER_BENCH_SANITIZER_HOOKS
#  include <sanitizer/allocator_interface.h>
#endif

namespace {

constinit thread_local std::uint64_t allocations = 0;

#if FAILOVER_BENCH_SANITIZER_HOOKS

void on_malloc(const volatile void*, std::size_t) { ++allocations; }
void on_free(const volatile void*) {}

bool install_counter() { return __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0; }

}  // namespace

#else  // replace the global allocation functions

bool install_counter() { return true; }

// Every operator new variant counts one allocation on the calling thread and gets its memory
// from malloc / aligned_alloc; every operator delete variant hands it back to free.
void* allocate(std::size_t size) noexcept {
    ++allocations;
    return std::malloc(size == 0 ? 1 : size);
}

void* allocate(std::size_t size, std::align_val_t align) noexcept {
    ++allocations;
    const auto a = static_cast<std::size_t>(align);
    // aligned_alloc wants a size that is a multiple of the alignment (a power of two).
    const std::size_t rounded = size == 0 ? a : (size + a - 1) & ~(a - 1);
    return rounded < size ? nullptr : std::aligned_alloc(a, rounded);
}

// The throwing forms: on failure, call the new-handler until it gives up, as the default does.
template <class... Align>
void* allocate_or_throw(std::size_t size, Align... align) {
    for (;;) {
        if (void* p = allocate(size, align...)) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) throw std::bad_alloc();
        handler();
    }
}

}  // namespace

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t align) { return allocate_or_throw(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return allocate_or_throw(size, align); }
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept { return allocate(size, align); }
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept { return allocate(size, align); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

#endif  // FAILOVER_BENCH_SANITIZER_HOOKS

std::uint64_t failover_bench::thread_allocations() noexcept { return allocations; }

// ---------------------------------------------------------------------------------------------

namespace {

// True when the counter above sees allocations (a sanitizer runtime or a malloc library that
// interposed its own operator new would otherwise make every allocs_per_op a false 0).
bool counter_works() {
    const std::uint64_t before = failover_bench::thread_allocations();
    void* p = ::operator new(16);
    benchmark::DoNotOptimize(p);  // keeps the pair from being elided
    ::operator delete(p);
    return failover_bench::thread_allocations() == before + 1;
}

}  // namespace

int main(int argc, char** argv) {
    // glibc and libstdc++ run single-threaded fast paths until the process starts its first
    // thread (__libc_single_threaded: non-atomic shared_ptr counts, unlocked malloc arenas and
    // stdio); after that they stay on the multi-threaded paths for good, even once the thread
    // has ended. A service always has threads, so measure that mode: start and join one thread
    // before any benchmark. Otherwise the figures would also depend on whether a ->Threads(n)
    // benchmark happened to run earlier in the same process (peers measured 2-3x differences).
    std::thread([] {}).join();

    if (!install_counter() || !counter_works()) {
        std::fputs("failover_bench: the counting operator new is not in use; allocs_per_op would be wrong\n", stderr);
        return 1;
    }

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
