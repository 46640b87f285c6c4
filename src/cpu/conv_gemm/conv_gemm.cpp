// gemm_1x1 and im2col_gemm: grouped convolution as one GEMM per
// (image, group, pixel tile), C[K/G x pixels] = W_g[K/G x kd] * B[kd x pixels].
// The weights are packed once by the plan. B reaches the micro-kernel one
// of three ways (Route): packed per tile from the input (NCHW 1x1, and
// im2col of images too large to stage), read in place through a table of
// pointers to each pixel's channels under each tap (NHWC), or through such
// a table into a per-thread, zero-padded copy of a run of images' group
// channels, where a pixel tile may span images (im2col in NCHW, and in NHWC
// where the channel stride crowds a few L1 sets). No full im2col matrix
// ever exists.
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/common/prefetch.hpp"
#include "cpu/gemm/macro_kernel.hpp"
#include "cpu/gemm/pack.hpp"

namespace gconv {
namespace {

// KC: the micro-kernel streams one panel of B (KC x NR) from L1 against
// panels of A (MR x KC) from L2; NC is the largest pixel tile, shrunk at run
// time when the batch and groups alone give too few work items to keep
// every thread busy. KC makes the wider of the two panels 32 KiB (512 floats
// on AVX2): measured 1.1-1.4x faster than 16 KiB on 1x1 GEMMs of 512-1200
// channels (fewer passes that re-read and re-write C, longer runs of the
// inner loop); the AlexNet im2col layers did not move.
constexpr int64_t kPanelBytes = 32 * 1024;
// The indirect routes pack no B, so their reduction blocks need not fit a
// panel in L1: each block past the first re-reads and re-writes C and
// rebuilds the micro-panel's table. Blocks of a wider panel of 256 KiB
// (2048 steps of 32 rows: the whole reduction of AlexNet's and dense 3x3
// layers over 64-256 channels) measured 1.03-1.10x faster than 32 KiB;
// 64 KiB gained about half of that, 2 MiB no more.
constexpr int64_t kIndirectPanelBytes = 256 * 1024;
constexpr int64_t kMaxTilePixels = 256;
constexpr int64_t kPackedTileBytes = 256 * 1024, kMaxWideTilePixels = 1024;
// The indirect routes pack no B panel, so a tile only bounds the C tile and
// the work items: 128 pixels measured as fast at N=16 and 3-15% faster at
// N=1 on two threads (dense 3x3, AlexNet conv4), where more items share out
// more evenly.
constexpr int64_t kMaxIndirectTilePixels = 128;
// The most bytes of B rows per micro-panel that the 1x1 NCHW route reads in
// place (execute_packed).
constexpr int64_t kInPlacePanelBytes = 16 * 1024;
// A group's packed weights beyond this run group by group (execute_indirect).
constexpr int64_t kLargeGroupWeightBytes = 256 * 1024;
// The widest micro-panel of any family's cols kernel (NR; the indirect
// routes use only that kernel).
constexpr int kMaxPanelColumns = 16;

// How B reaches the micro-kernel.
enum class Route {
    // NCHW: B packed per tile (input rows for 1x1, im2col otherwise); the
    // rows kernel, whose vector lanes run along a row of C (an output
    // channel's contiguous pixels).
    kPacked,
    // NHWC: B read in place through a table of pointers to each pixel's
    // channels under each tap; the cols kernel, whose lanes run along a
    // column of C (a pixel's contiguous output channels).
    kIndirect,
    // im2col: a group's input channels of one or more images copied once
    // per thread into zero-padded pixels of Cg contiguous channels
    // (stage_rows), then as kIndirect without a bounds check. NCHW
    // transposes the planes and writes C to a tile that is transposed back:
    // 1.25-1.6x faster than kPacked on dense 3x3 and AlexNet's 3x3/5x5
    // layers (the im2col copy is gone; the two transposes cost a few
    // percent). NHWC copies each pixel's Cg channels where the channel count
    // is a large power of two: in place, pixels C apart (4 KiB for ResNeXt's
    // 1024 channels) put every row the table points at in the same few L1
    // sets; compact, they do not (ResNeXt s5 1.4-1.6x faster). AlexNet's
    // 96 and 384 channels measured no gain from the copy.
    kStaged,
};

// A staged group image larger than this goes kPacked instead: per-thread
// scratch holds one.
constexpr int64_t kMaxStagedBytes = 4 << 20;
// Images staged together while they fit this: a pixel tile then runs on
// across images, so small maps fill whole micro-panels (ResNeXt s5's 7x7 =
// 49 pixels took five panels of 12, 60 columns, per image) and the items
// are fewer and larger.
constexpr int64_t kStagedImagesBytes = 256 * 1024;

// The staged image of one group: zero-padded, so that every tap of every
// output pixel lies inside it.
int64_t staged_height(const ConvGeometry& g) { return g.H + g.pt + g.pb; }
int64_t staged_width(const ConvGeometry& g) { return g.W + g.pl + g.pr; }
int64_t staged_image_elements(const ConvGeometry& g) {
    return staged_height(g) * staged_width(g) * g.Cg;
}

// NCHW planes of at least this many values have their output lines
// requested while the GEMM runs (see execute_staged).
constexpr int64_t kRequestedPlaneMin = 512;
// The most lines of a plane an indirect tile covers (float64, a tile not
// starting on a line).
constexpr int64_t kMaxTileLines = (kMaxIndirectTilePixels + kMaxPanelColumns) / 8 + 2;

// How many images of a group the scratch stages at once (>= 1).
template <typename T>
int64_t staged_images(const ConvGeometry& g) {
    const int64_t bytes = staged_image_elements(g) * static_cast<int64_t>(sizeof(T));
    return bytes > 0 && bytes < kStagedImagesBytes ? kStagedImagesBytes / bytes : 1;
}

// Whether rows `stride` bytes apart fall on fewer than 8 distinct offsets
// within a 4 KiB page, and so into a few of the L1's sets (a power-of-two
// channel count of 256 or more floats in NHWC).
bool crowds_l1_sets(int64_t stride) {
    int64_t a = stride, b = 4096;
    while (b != 0) {
        const int64_t r = a % b;
        a = b;
        b = r;
    }
    return 4096 / a < 8;
}

template <typename T>
Route route(const ConvGeometry& g, bool im2col) {
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const bool fits = staged_image_elements(g) * static_cast<int64_t>(sizeof(T)) <= kMaxStagedBytes;
    if (im2col && fits && (!nhwc || crowds_l1_sets(g.C * static_cast<int64_t>(sizeof(T)))))
        return Route::kStaged;
    return nhwc ? Route::kIndirect : Route::kPacked;
}

// gemm_cols_wide where M fills its panels, else gemm_cols_tall or
// gemm_cols_five where M fills their panels and not gemm_cols'.
template <typename T>
const GemmUkernel<T>& ukernel(const gconv_plan& plan, bool im2col) {
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    const int64_t M = plan.geom.Kg;
    if (route<T>(plan.geom, im2col) == Route::kPacked) {
        const GemmUkernel<T>& tall = f.gemm_rows_tall;
        if (tall.fn != nullptr && M % f.gemm_rows.mr != 0 && M % tall.mr == 0) return tall;
        return f.gemm_rows;
    }
    const GemmUkernel<T>& wide = f.gemm_cols_wide;
    if (wide.fn != nullptr && M % wide.mr == 0) return wide;
    if (M % f.gemm_cols.mr == 0) return f.gemm_cols;
    for (const GemmUkernel<T>* other : {&f.gemm_cols_tall, &f.gemm_cols_five})
        if (other->fn != nullptr && M % other->mr == 0) return *other;
    return f.gemm_cols;
}

// The longest reduction block: the wider of the two micro-panels fills
// panel_bytes (kPanelBytes packed, kIndirectPanelBytes in place).
template <typename T>
int64_t block_steps(const GemmUkernel<T>& uk, int64_t panel_bytes) {
    const int64_t wider = uk.mr > uk.nr ? uk.mr : uk.nr;
    return panel_bytes / (wider * static_cast<int64_t>(sizeof(T)));
}

// The reduction blocks of the indirect routes (tap by tap, see
// reduction_blocks).
template <typename T>
ReductionBlocks indirect_blocks(const ConvGeometry& g, const GemmUkernel<T>& uk) {
    return reduction_blocks(g.R * g.S, g.Cg, block_steps(uk, kIndirectPanelBytes));
}

int64_t cache_lines(int64_t bytes) { return (bytes + 63) / 64 * 64; }

// Per-thread scratch of the indirect routes, each part on its own cache
// lines: a row of Cg zeros (kIndirect's taps in the padding), the pointer
// tables of two micro-panels and, staged, the group's padded images
// (staged_images of them) and (NCHW) the C tile.
template <typename T>
struct IndirectScratch {
    T* zeros;
    const T** table;
    T* image;
    T* tile;
};

template <typename T>
int64_t indirect_scratch_bytes(const ConvGeometry& g, const GemmUkernel<T>& uk, bool staged,
                               int64_t tile_pixels, IndirectScratch<T>* parts = nullptr,
                               char* base = nullptr) {
    const ReductionBlocks blocks = indirect_blocks(g, uk);
    const int64_t sizes[] = {
        cache_lines(g.Cg * static_cast<int64_t>(sizeof(T))),
        cache_lines(2 * uk.nr * blocks.taps * static_cast<int64_t>(sizeof(T*))),
        staged ? cache_lines(staged_images<T>(g) * staged_image_elements(g) *
                             static_cast<int64_t>(sizeof(T)))
               : 0,
        staged && g.layout == GCONV_LAYOUT_NCHW
            ? cache_lines(tile_pixels * g.Kg * static_cast<int64_t>(sizeof(T)))
            : 0,
    };
    if (parts) {
        parts->zeros = reinterpret_cast<T*>(base);
        parts->table = reinterpret_cast<const T**>(base + sizes[0]);
        parts->image = reinterpret_cast<T*>(base + sizes[0] + sizes[1]);
        parts->tile = reinterpret_cast<T*>(base + sizes[0] + sizes[1] + sizes[2]);
    }
    return sizes[0] + sizes[1] + sizes[2] + sizes[3];
}

template <typename T>
gconv_status prepare_typed(gconv_plan& plan, const void* weight, bool im2col) {
    const ConvGeometry& g = plan.geom;
    const Route how = route<T>(g, im2col);
    const GemmUkernel<T>& uk = ukernel<T>(plan, im2col);
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    // Not zeroed: the packing writes every element, zero rows included.
    if (!plan.weight.allocate(static_cast<size_t>(group_size * g.G) * sizeof(T), false))
        return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " packed weights",
                    group_size * g.G);
    const ReductionOrder order =
        how == Route::kPacked ? ReductionOrder::kChannelMajor : ReductionOrder::kTapMajor;
    if (g.K > 0)
        pack_a_weights(g, order, uk.mr, static_cast<const T*>(weight), plan.weight.as<T>());
    const int64_t tile = how == Route::kPacked ? kMaxTilePixels : kMaxIndirectTilePixels;
    plan.tile_pixels = (tile + uk.nr - 1) / uk.nr * uk.nr;
    if (how != Route::kPacked) {
        if (uk.nr > kMaxPanelColumns)  // point_rows' per-column arrays
            return fail(GCONV_INTERNAL_ERROR, "micro-panel of %d columns exceeds %d", uk.nr,
                        kMaxPanelColumns);
        const ReductionBlocks blocks = indirect_blocks(g, uk);
        plan.tile_depth = blocks.taps * blocks.channels;
        plan.scratch_bytes =
            indirect_scratch_bytes<T>(g, uk, how == Route::kStaged, plan.tile_pixels);
        return GCONV_SUCCESS;
    }
    // Equal blocks no longer than that: a short last block (64 of the 576
    // steps of a dense 3x3 over 64 channels) would re-read and re-write C for
    // little work.
    const int64_t kd = g.reduction() > 0 ? g.reduction() : 1;
    const int64_t steps = block_steps(uk, kPanelBytes);
    const int64_t blocks = (kd + steps - 1) / steps;
    plan.tile_depth = (kd + blocks - 1) / blocks;
    // Shallow reductions (a grouped 1x1 over 80 channels) pack little B per
    // pixel: wider tiles, while the B block stays within kPackedTileBytes,
    // read each input row in longer runs (ShuffleNet's 28x28 at N=16: a
    // whole plane per item measured 9% faster than 256 pixels).
    const int64_t wide = kPackedTileBytes / (plan.tile_depth * static_cast<int64_t>(sizeof(T)));
    if (wide > plan.tile_pixels)
        plan.tile_pixels = (wide < kMaxWideTilePixels ? wide : kMaxWideTilePixels) / uk.nr * uk.nr;
    plan.scratch_bytes = plan.tile_depth * plan.tile_pixels * static_cast<int64_t>(sizeof(T));
    return GCONV_SUCCESS;
}

template <bool kIm2col>
gconv_status prepare(gconv_plan& plan, const void* weight) {
    return plan.geom.dtype == GCONV_FLOAT64 ? prepare_typed<double>(plan, weight, kIm2col)
                                            : prepare_typed<float>(plan, weight, kIm2col);
}

// The staged route's copy of padded rows [r0, r1) of `images` images'
// channels of one group (`first`: the first image's first channel of the
// group, images `image_stride` apart) into `staged`, each image padded:
// [Hp][Wp][Cg], the border zero. NCHW goes through the family's register
// transposes (transpose_rows), transpose_lanes channel planes at a time;
// NHWC copies each pixel's Cg channels.
template <typename T>
void stage_rows(const KernelFamily<T>& f, const ConvGeometry& g, const T* first,
                int64_t image_stride, int64_t images, T* staged, int64_t r0, int64_t r1) {
    const int64_t Cg = g.Cg, Wp = staged_width(g), HW = g.H * g.W;
    const int64_t image_elements = staged_image_elements(g);
    const size_t pixel_bytes = sizeof(T) * static_cast<size_t>(Cg);
    // The input rows among them, [ih0, ih1), and the padding rows around.
    const int64_t ih0 = std::max<int64_t>(r0 - g.pt, 0), ih1 = std::min(r1 - g.pt, g.H);
    const int64_t rows = ih1 > ih0 ? ih1 - ih0 : 0;
    const int lanes = f.transpose_lanes;
    const int64_t full = Cg / lanes * lanes;
    for (int64_t m = 0; m < images; ++m) {
        const T* src = first + m * image_stride;
        T* dst = staged + m * image_elements;
        if (rows > 0 && g.layout == GCONV_LAYOUT_NHWC) {
            for (int64_t ih = ih0; ih < ih1; ++ih) {
                T* pixels = dst + ((ih + g.pt) * Wp + g.pl) * Cg;
                const T* in = src + ih * g.W * g.C;
                for (int64_t iw = 0; iw < g.W; ++iw)
                    std::memcpy(pixels + iw * Cg, in + iw * g.C, pixel_bytes);
            }
        } else if (rows > 0) {
            // The planes' rows are transposed as one run each (row by row,
            // the short rows of a 7x7 map went through masked loads: a fifth
            // of ResNeXt s5's time) into the last rows * W pixels of the
            // padded rows' place, then each row moves up to its place: row
            // ih's place never lies after its copy, nor after a later row's
            // start. A partial chunk of up to 8 channels is stored 8 wide,
            // spilling into the next pixel's first channels: it goes first,
            // and the full chunks rewrite them (past the last pixel: the
            // next padded row, staged later (see execute_staged), the next
            // image, or the C tile's scratch).
            T* const packed = dst + (ih1 + g.pt) * Wp * Cg - rows * g.W * Cg;
            // The next image's planes (the group's are contiguous), a share
            // requested before each chunk's transpose: from L3 or memory,
            // the transposes waited on their loads (ResNeXt s5 at N=16: a
            // sixth of the layer in transpose_rows).
            const T* next = src + image_stride;
            const int64_t next_bytes =
                m + 1 < images ? Cg * HW * static_cast<int64_t>(sizeof(T)) : 0;
            const int64_t chunks = (Cg + lanes - 1) / lanes;
            int64_t chunk = 0;
            for (int64_t c0 = full < Cg ? full : full - lanes; c0 >= 0; c0 -= lanes, ++chunk) {
                prefetch_share(next, next_bytes, chunk, chunks);
                const int count = static_cast<int>(Cg - c0 < lanes ? Cg - c0 : lanes);
                const T* planes[16];
                for (int i = 0; i < count; ++i) planes[i] = src + (c0 + i) * HW + ih0 * g.W;
                f.transpose_rows(planes, count, rows * g.W, packed + c0, Cg);
            }
            for (int64_t ih = ih0; ih < ih1; ++ih)
                std::memmove(dst + ((ih + g.pt) * Wp + g.pl) * Cg, packed + (ih - ih0) * g.W * Cg,
                             pixel_bytes * static_cast<size_t>(g.W));
        }
        for (int64_t r = r0; r < r1; ++r) {
            T* row = dst + r * Wp * Cg;
            if (r < g.pt || r >= g.pt + g.H) {
                std::memset(row, 0, pixel_bytes * static_cast<size_t>(Wp));
                continue;
            }
            std::memset(row, 0, pixel_bytes * static_cast<size_t>(g.pl));
            std::memset(row + (g.pl + g.W) * Cg, 0, pixel_bytes * static_cast<size_t>(g.pr));
        }
    }
}

template <typename T>
void unstage_tile(const KernelFamily<T>& f, const T* tile, int64_t width, int64_t Kg, T* out,
                  int64_t P) {
    // Whole chunks only: their stores stay in the tile's pixels.
    int64_t p = 0;
    for (int lanes = f.transpose_lanes; lanes >= 8; lanes /= 2) {
        for (; p + lanes <= width; p += lanes) {
            const T* rows[16];
            for (int i = 0; i < lanes; ++i) rows[i] = tile + (p + i) * Kg;
            f.transpose_rows(rows, lanes, Kg, out + p, P);
        }
    }
    for (; p < width; ++p)
        for (int64_t k = 0; k < Kg; ++k) out[k * P + p] = tile[p * Kg + k];
}

// The pixel tiles of the items over `units` units (image or run, group) of
// `pixels` pixels each: whole micro-panels of nr pixels, as evenly shared
// as panels allow, about four items a thread, each at most `cap` pixels.
// Where the items are few, their count is a multiple of the threads: a
// dense 3x3 over 14x14 at N=1 (33 panels of 6) cut into 7 equal tiles gave
// one thread four of them.
struct PixelTiles {
    int64_t pixels, nr, panels, count;
    int64_t begin(int64_t t) const { return t * panels / count * nr; }
    int64_t end(int64_t t) const {
        const int64_t e = (t + 1) * panels / count * nr;
        return e < pixels ? e : pixels;
    }
};

PixelTiles pixel_tiles(int64_t pixels, int64_t units, int threads, int64_t nr, int64_t cap) {
    const int64_t panels = (pixels + nr - 1) / nr;
    const int64_t cap_panels = cap / nr > 0 ? cap / nr : 1;
    const int64_t fewest = (panels + cap_panels - 1) / cap_panels;  // tiles within the cap
    int64_t count = (4 * threads + units - 1) / units;
    if (count < fewest) count = fewest;
    if (units * count < 8 * threads)
        while ((units * count) % threads != 0 && count < panels) ++count;
    if (count > panels) count = panels;
    if (count < 1) count = 1;
    return {pixels, nr, panels, count};
}

// The staged route: items are (run of images, group, pixel tile), the
// tile's pixels numbered across the run's images. Each thread stages a run
// of a group's images once (items run group by group); a micro-panel's
// table is then its pixels' positions in the padded images plus each tap's
// constant offset. A run of one image is staged only as far as the
// thread's tiles reach (its items are consecutive tiles): at N=1 with one
// group, every thread staged the whole image for its share of the rows
// (dense 3x3 over 56x56 at N=1: 1.13x, caches flushed 1.31x; over 14x14
// and 256 channels 1.03-1.15x).
template <typename T>
void execute_staged(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                    T* scratch) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    const GemmUkernel<T>& uk = ukernel<T>(plan, true);
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const int64_t P = g.out_pixels();
    if (batch <= 0 || P <= 0) return;
    const int64_t run = staged_images<T>(g) < batch ? staged_images<T>(g) : batch;
    const int64_t runs = (batch + run - 1) / run;
    const PixelTiles cut = pixel_tiles(run * P, runs * g.G, threads, uk.nr, plan.tile_pixels);
    const int64_t tiles = cut.count;
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const ReductionBlocks blocks = indirect_blocks(g, uk);
    const int64_t Wp = staged_width(g), image_elements = staged_image_elements(g);
    // The (run, group) each thread's staged images hold, and which of their
    // padded rows.
    struct StagedRows {
        int64_t key = -1, begin = 0, end = 0;
    };
    std::vector<StagedRows> staged(static_cast<size_t>(threads));

    parallel_for(runs * g.G * tiles, threads, [&](int64_t item, int tid) {
        const int64_t tile = item % tiles, group = item / tiles % g.G, r = item / tiles / g.G;
        const int64_t n0 = r * run, images = batch - n0 < run ? batch - n0 : run;
        const int64_t j0 = cut.begin(tile), j1 = std::min(cut.end(tile), images * P);
        if (j0 >= j1) return;  // a short last run
        const int64_t width = j1 - j0;
        IndirectScratch<T> parts;
        indirect_scratch_bytes<T>(g, uk, true, plan.tile_pixels, &parts,
                                  reinterpret_cast<char*>(scratch) + tid * plan.scratch_bytes);
        // The padded rows the tile's windows cover.
        int64_t need_begin = 0, need_end = staged_height(g);
        if (images == 1) {
            need_begin = j0 / g.OW * g.sh;
            need_end = (j1 - 1) / g.OW * g.sh + (g.R - 1) * g.dh + 1;
        }
        // Rows are only ever staged below those held (a thread's tiles come
        // in order; any other order starts over), which stage_rows' spill
        // past its last row relies on.
        StagedRows& held = staged[tid];
        const int64_t key = r * g.G + group;
        if (held.key != key || need_begin < held.begin) held = {key, need_begin, need_begin};
        if (need_end > held.end) {  // with any gap between, so the rows held stay one range
            const T* first = x + n0 * g.in_image() + group * g.Cg * (nhwc ? 1 : g.H * g.W);
            stage_rows(f, g, first, g.in_image(), images, parts.image, held.end, need_end);
            held.end = need_end;
        }
        // NCHW: the lines of the output planes that unstage_tile will write
        // (Kg planes at once) are requested into L2, a share per
        // micro-panel while the GEMM runs, in the first reduction block.
        // Unrequested, the transposed stores waited on them from L3 or
        // memory: dense 3x3 at N=16 1.08-1.3x, AlexNet conv2 1.10-1.13x.
        // Planes of a few lines (ResNeXt s5's 7x7) gained nothing, and with
        // a division per request s5 lost 4%; within the caches
        // (fetches_ahead) the requests only cost issue slots.
        const int64_t line = 64 / static_cast<int64_t>(sizeof(T));
        const bool request = !nhwc && fetches_ahead<T>(g, batch) && P >= kRequestedPlaneMin;
        const int64_t steps = request ? (width + line - 1) / line : 0;
        const int64_t requests = g.Kg * steps, panels = (width + uk.nr - 1) / uk.nr;
        T* const planes = y + n0 * g.out_image() + group * g.Kg * P;
        int64_t line_at[kMaxTileLines];  // each line's place in the first plane
        for (int64_t s = 0; s < steps; ++s) {
            const int64_t q = j0 + (s * line < width ? s * line : width - 1), m = q / P;
            line_at[s] = m * g.out_image() + q - m * P;
        }
        // Columns past the tile repeat its last pixel: read, never stored.
        // Pixels advance by increments (no division per column).
        auto point_rows = [&](int64_t jp, int64_t t0, int64_t kt, const T** table) {
            if (t0 == 0 && requests > 0) {
                const int64_t k = jp / uk.nr, e0 = k * requests / panels;
                int64_t plane = e0 / steps, s = e0 % steps;
                for (int64_t e = e0; e < (k + 1) * requests / panels; ++e) {
                    prefetch_l2(planes + plane * P + line_at[s]);
                    if (++s == steps) s = 0, ++plane;
                }
            }
            const T* base[kMaxPanelColumns];
            int64_t pixel = j0 + jp, m = pixel / P, oh = pixel % P / g.OW, ow = pixel % P % g.OW;
            for (int j = 0; j < uk.nr; ++j) {
                base[j] = parts.image + m * image_elements + (oh * g.sh * Wp + ow * g.sw) * g.Cg;
                if (pixel + 1 < j0 + width) {
                    ++pixel;
                    if (++ow == g.OW) {
                        ow = 0;
                        if (++oh == g.OH) oh = 0, ++m;
                    }
                }
            }
            int64_t rr = t0 / g.S, ss = t0 % g.S;
            for (int64_t t = 0; t < kt; ++t) {
                const int64_t offset = (rr * g.dh * Wp + ss * g.dw) * g.Cg;
                for (int j = 0; j < uk.nr; ++j) table[t * uk.nr + j] = base[j] + offset;
                if (++ss == g.S) ss = 0, ++rr;
            }
        };
        const T* a = plan.weight.as<T>() + group * group_size;
        const T* group_bias = bias ? bias + group * g.Kg : nullptr;
        if (nhwc) {
            gemm_macro_kernel_indirect(uk, a, g.Kg, g.R * g.S, g.Cg, blocks, width, parts.table,
                                       point_rows, y + (n0 * P + j0) * g.K + group * g.Kg, 1, g.K,
                                       group_bias, g.act);
            return;
        }
        gemm_macro_kernel_indirect(uk, a, g.Kg, g.R * g.S, g.Cg, blocks, width, parts.table,
                                   point_rows, parts.tile, 1, g.Kg, group_bias, g.act);
        // Back to each image's channel planes.
        for (int64_t q = j0; q < j0 + width;) {
            const int64_t m = q / P, end = (m + 1) * P < j0 + width ? (m + 1) * P : j0 + width;
            unstage_tile(f, parts.tile + (q - j0) * g.Kg, end - q, g.Kg,
                         y + (n0 + m) * g.out_image() + group * g.Kg * P + (q - m * P), P);
            q = end;
        }
    });
}

// The in-place route (NHWC): items are (group, pixel tile), the tile's
// pixels numbered across the batch, as NHWC stores them: a 13x13 map's 169
// pixels per image took 15 micro-panels of 12 (AlexNet conv4 and conv5),
// 6% of the work on columns that are never stored. Consecutive items are
// one tile's groups, which read the same pixels' lines (group by group,
// ShuffleNet's grouped 1x1 read its input from memory once per group:
// 0.91x), unless a group's weights fill a good part of L2: then each
// thread's items keep to one group (AlexNet conv4 and conv5, 0.9-1.3 MB
// per group: 1.03x).
template <typename T>
void execute_indirect(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                      T* scratch) {
    const ConvGeometry& g = plan.geom;
    const GemmUkernel<T>& uk = ukernel<T>(plan, false);
    const int64_t P = g.out_pixels(), pixels = batch * P;
    if (pixels <= 0) return;
    const PixelTiles cut = pixel_tiles(pixels, g.G, threads, uk.nr, plan.tile_pixels);
    const int64_t tiles = cut.count;
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const ReductionBlocks blocks = indirect_blocks(g, uk);
    // With several groups each pixel's rows and outputs are a group's slice
    // of its channels, which only requests ahead bring in time once the
    // batch outgrows the caches. Not with several taps: neighbouring
    // pixels' windows overlap, so the next micro-panel's rows are mostly
    // lines this one read, and the requests stalled on the miss buffers
    // (AlexNet conv2 NHWC N=16: 1.08-1.10x without them). Into which cache,
    // and with the output's columns or not: KernelTable::slices_into_l2.
    IndirectRequests requests;
    requests.rows = g.G > 1 && g.R * g.S == 1 && fetches_ahead<T>(g, batch);
    requests.rows_into_l2 = plan.kernels->slices_into_l2;
    requests.output = requests.rows && !plan.kernels->slices_into_l2;
    const bool group_major = group_size * static_cast<int64_t>(sizeof(T)) > kLargeGroupWeightBytes;

    parallel_for(g.G * tiles, threads, [&](int64_t item, int tid) {
        const int64_t group = group_major ? item / tiles : item % g.G;
        const int64_t tile = group_major ? item % tiles : item / g.G;
        const int64_t j0 = cut.begin(tile), width = cut.end(tile) - j0;
        IndirectScratch<T> parts;
        indirect_scratch_bytes<T>(g, uk, false, plan.tile_pixels, &parts,
                                  reinterpret_cast<char*>(scratch) + tid * plan.scratch_bytes);
        for (int64_t c = 0; c < g.Cg; ++c) parts.zeros[c] = T(0);
        // Pixel (ih, iw) of image m: its group's Cg channels at
        // x + m * in_image + group * Cg + (ih * W + iw) * C. Taps in the
        // padding read a row of zeros. Columns past the tile repeat its last
        // pixel: read, never stored. Pixels and taps advance by increments:
        // a division per table entry cost a fifth of a grouped 1x1's time
        // (80 channels per group).
        auto point_rows = [&](int64_t jp, int64_t t0, int64_t kt, const T** table) {
            int64_t ih0[kMaxPanelColumns], iw0[kMaxPanelColumns];
            const T* first[kMaxPanelColumns];
            int64_t pixel = j0 + jp, m = pixel / P, oh = pixel % P / g.OW, ow = pixel % P % g.OW;
            for (int j = 0; j < uk.nr; ++j) {
                ih0[j] = oh * g.sh - g.pt;
                iw0[j] = ow * g.sw - g.pl;
                first[j] = x + m * g.in_image() + group * g.Cg;
                if (pixel + 1 < j0 + width) {
                    ++pixel;
                    if (++ow == g.OW) {
                        ow = 0;
                        if (++oh == g.OH) oh = 0, ++m;
                    }
                }
            }
            int64_t r = t0 / g.S, s = t0 % g.S;
            for (int64_t t = 0; t < kt; ++t) {
                const int64_t dy = r * g.dh, dx = s * g.dw;
                for (int j = 0; j < uk.nr; ++j) {
                    const int64_t ih = ih0[j] + dy, iw = iw0[j] + dx;
                    table[t * uk.nr + j] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W
                                               ? first[j] + (ih * g.W + iw) * g.C
                                               : parts.zeros;
                }
                if (++s == g.S) s = 0, ++r;
            }
        };
        gemm_macro_kernel_indirect(uk, plan.weight.as<T>() + group * group_size, g.Kg,
                                   g.R * g.S, g.Cg, blocks, width, parts.table, point_rows,
                                   y + j0 * g.K + group * g.Kg, 1, g.K,
                                   bias ? bias + group * g.Kg : nullptr, g.act, requests);
    });
}

// kPacked (NCHW): items are (image, group, pixel tile), B packed per tile.
template <typename T, bool kIm2col>
void execute_packed(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                    T* scratch) {
    const ConvGeometry& g = plan.geom;
    const GemmUkernel<T>& uk = ukernel<T>(plan, kIm2col);
    const int64_t P = g.out_pixels(), kd = g.reduction();
    const PixelTiles cut = pixel_tiles(P, batch * g.G, threads, uk.nr, plan.tile_pixels);
    const int64_t tiles = cut.count;
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    // 1x1 from data the caches hold, with a short reduction: B's rows are
    // the group's input planes, read in place (gemm_macro_kernel_strided).
    // Grouped 1x1 over 48 and 80 channels (ShuffleNet) at N=1: 1.12-1.17x;
    // a dense one over 256 channels 0.91-0.98x, its micro-panel's rows
    // (32 KiB) crowding the L1 that packed they share with A.
    const bool fetch = fetches_ahead<T>(g, batch);
    const bool in_place = !kIm2col && uk.fn_strided != nullptr && !fetch &&
                          kd * uk.nr * static_cast<int64_t>(sizeof(T)) <= kInPlacePanelBytes;
    const int64_t items = batch * g.G * tiles;

    parallel_for(items, threads, [&](int64_t item, int tid) {
        const int64_t tile = item % tiles, group = item / tiles % g.G, n = item / tiles / g.G;
        const int64_t j0 = cut.begin(tile), width = cut.end(tile) - j0;
        // 1x1 from beyond the caches: the next item's input rows are
        // requested into L2 while this one computes. The packing waited on
        // them (14% of ShuffleNet's grouped 1x1 at N=16).
        LinesAhead ahead;
        if (!kIm2col && fetch && item + 1 < items) {
            const int64_t next_tile = (item + 1) % tiles, next_plane = (item + 1) / tiles;
            const int64_t next_j0 = cut.begin(next_tile);
            ahead.base = x + next_plane / g.G * g.in_image() + next_plane % g.G * g.Cg * P + next_j0;
            ahead.stride = P * static_cast<int64_t>(sizeof(T));
            ahead.rows = g.Cg;
            ahead.bytes = (cut.end(next_tile) - next_j0) * static_cast<int64_t>(sizeof(T));
        }
        const T* image = x + n * g.in_image();
        T* b_scratch =
            reinterpret_cast<T*>(reinterpret_cast<char*>(scratch) + tid * plan.scratch_bytes);
        T* c = y + n * g.out_image() + group * g.Kg * P + j0;
        const T* group_bias = bias ? bias + group * g.Kg : nullptr;
        if (in_place) {
            auto pack_tail = [&](int64_t p0, int64_t kc, int64_t jp, int64_t w, T* dst) {
                pack_b_direct(g, image, group, p0, kc, j0 + jp, w, uk.nr, dst);
            };
            gemm_macro_kernel_strided(uk, plan.weight.as<T>() + group * group_size, g.Kg, kd,
                                      width, plan.tile_depth, image + group * g.Cg * P + j0, P,
                                      b_scratch, pack_tail, c, P, 1, group_bias, g.act);
            return;
        }
        auto pack_b = [&](int64_t p0, int64_t kc, T* dst) {
            if (kIm2col)
                pack_b_im2col(g, image, group, p0, kc, j0, width, uk.nr, dst);
            else
                pack_b_direct(g, image, group, p0, kc, j0, width, uk.nr, dst);
        };
        gemm_macro_kernel(uk, plan.weight.as<T>() + group * group_size, g.Kg, kd, width,
                          plan.tile_depth, b_scratch, pack_b, c, P, 1, group_bias, g.act, ahead);
    });
}

template <typename T, bool kIm2col>
gconv_status execute_typed(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                           T* scratch) {
    switch (route<T>(plan.geom, kIm2col)) {
        case Route::kStaged:
            execute_staged(plan, batch, x, y, threads, scratch);
            break;
        case Route::kIndirect:
            execute_indirect(plan, batch, x, y, threads, scratch);
            break;
        case Route::kPacked:
            execute_packed<T, kIm2col>(plan, batch, x, y, threads, scratch);
            break;
    }
    return GCONV_SUCCESS;
}

template <bool kIm2col>
gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void* scratch) {
    if (plan.geom.dtype == GCONV_FLOAT64)
        return execute_typed<double, kIm2col>(plan, batch, static_cast<const double*>(x),
                                              static_cast<double*>(y), threads,
                                              static_cast<double*>(scratch));
    return execute_typed<float, kIm2col>(plan, batch, static_cast<const float*>(x),
                                         static_cast<float*>(y), threads,
                                         static_cast<float*>(scratch));
}

bool accepts_1x1(const ConvGeometry& g) {
    return g.R == 1 && g.S == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pb == 0 &&
           g.pl == 0 && g.pr == 0;
}

bool accepts_any(const ConvGeometry&) { return true; }

// GEMM pays off when groups are wide in both directions: packing B (or
// the staged copy) costs about as much per element as a few FMAs per output
// channel, so below 32 channels per group in and out the direct kernels
// (which read their input rows once per group) win. Measured on AVX2,
// N=16: groups of 32 in and out run 1.3-1.6x faster as GEMM (ResNeXt s5,
// 7x7 to 56x56 maps), groups of 16 (ResNeXt s4, RegNetX) and narrower
// faster direct.
bool prefers_im2col(const ConvGeometry& g) { return g.Cg >= 32 && g.Kg >= 32; }

}  // namespace

const Algorithm kGemm1x1 = {GCONV_ALGO_GEMM_1X1, "gemm_1x1", accepts_1x1, accepts_1x1,
                            prepare<false>, execute<false>};
const Algorithm kIm2colGemm = {GCONV_ALGO_IM2COL_GEMM, "im2col_gemm", accepts_any,
                               prefers_im2col, prepare<true>, execute<true>};

}  // namespace gconv
