// Exclusive prefix sums of u32 counts, for the MSM's counting sort and its partial lists:
// `scan_tiles` scans tiles of 256 in place and writes each tile's total; the host scans the
// totals the same way (recursively) and `scan_add` adds them back.

const TILE: u32 = 256u;

// @kernel scan_tiles plain
// p0 = n, p1 = tiles.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> totals: array<u32>;

var<workgroup> sh: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let tile = wid.y * nwg.x + wid.x;
    let i = tile * TILE + lid;
    var x = 0u;
    if (i < prm.p0) {
        x = data[i];
    }
    sh[lid] = x;
    workgroupBarrier();
    // Hillis-Steele inclusive scan.
    for (var off = 1u; off < TILE; off <<= 1u) {
        var y = 0u;
        if (lid >= off) {
            y = sh[lid - off];
        }
        workgroupBarrier();
        sh[lid] += y;
        workgroupBarrier();
    }
    if (i < prm.p0) {
        data[i] = sh[lid] - x;
    }
    if (lid == TILE - 1u && tile < prm.p1) {
        totals[tile] = sh[lid];
    }
}

// @kernel scan_add plain
// p0 = n.
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid, WG);
    if (i < prm.p0) {
        data[i] += offsets[i / TILE];
    }
}
