// Exclusive prefix sums of u32 counts, for the MSM's counting sort and its partial lists.
// `scan_tiles` scans tiles of 1024 in place and writes each tile's total; the host scans
// the totals the same way (recursively) and `scan_add` adds them back.

#define SCAN_TILE 1024

extern "C" __global__ void __launch_bounds__(1024) scan_tiles(u32* data, u32 n, u32* tile_totals) {
    __shared__ u32 sh[SCAN_TILE];
    u32 tid = threadIdx.x;
    u32 i = blockIdx.x * SCAN_TILE + tid;
    u32 x = i < n ? data[i] : 0;
    sh[tid] = x;
    __syncthreads();
    // Hillis-Steele inclusive scan.
    for (u32 off = 1; off < SCAN_TILE; off <<= 1) {
        u32 y = tid >= off ? sh[tid - off] : 0;
        __syncthreads();
        sh[tid] += y;
        __syncthreads();
    }
    if (i < n) data[i] = sh[tid] - x;
    if (tid == SCAN_TILE - 1) tile_totals[blockIdx.x] = sh[tid];
}

extern "C" __global__ void scan_add(u32* data, u32 n, const u32* tile_offsets) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) data[i] += tile_offsets[i / SCAN_TILE];
}
