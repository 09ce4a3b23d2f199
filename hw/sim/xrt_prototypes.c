/* The XRT functions src/xrt.rs loads, declared as it calls them. Compiled against XRT's own
 * headers (build.rs, feature `xrt`, where libxrt-dev is installed): a prototype that differs
 * from XRT's is a "conflicting types" error, so the driver's calls cannot drift from the
 * API. Nothing here is linked into anything. */
#include <stddef.h>
#include <stdint.h>

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

xrtDeviceHandle xrtDeviceOpen(unsigned int index);
int xrtDeviceClose(xrtDeviceHandle dhdl);
int xrtDeviceLoadXclbinFile(xrtDeviceHandle dhdl, const char* xclbin_fnm);
int xrtDeviceGetXclbinUUID(xrtDeviceHandle dhdl, xuid_t out);
xrtKernelHandle xrtPLKernelOpen(xrtDeviceHandle deviceHandle, const xuid_t xclbinId, const char* name);
int xrtKernelClose(xrtKernelHandle kernelHandle);
int xrtKernelArgGroupId(xrtKernelHandle kernelHandle, int argno);
xrtRunHandle xrtKernelRun(xrtKernelHandle kernelHandle, ...);
enum ert_cmd_state xrtRunWait(xrtRunHandle rhdl);
int xrtRunClose(xrtRunHandle rhdl);
xrtBufferHandle xrtBOAlloc(xrtDeviceHandle dhdl, size_t size, xrtBufferFlags flags, xrtMemoryGroup grp);
int xrtBOFree(xrtBufferHandle bhdl);
int xrtBOWrite(xrtBufferHandle bhdl, const void* src, size_t size, size_t seek);
int xrtBORead(xrtBufferHandle bhdl, void* dst, size_t size, size_t skip);
int xrtBOSync(xrtBufferHandle bhdl, enum xclBOSyncDirection dir, size_t size, size_t offset);

/* The constants the driver uses, by value. */
_Static_assert(XCL_BO_SYNC_BO_TO_DEVICE == 0, "SYNC_TO_DEVICE");
_Static_assert(XCL_BO_SYNC_BO_FROM_DEVICE == 1, "SYNC_FROM_DEVICE");
_Static_assert(ERT_CMD_STATE_COMPLETED == 4, "COMPLETED");
_Static_assert(XRT_BO_FLAGS_NONE == 0, "BO_FLAGS_NONE");
_Static_assert(sizeof(xuid_t) == 16, "a UUID is 16 bytes");
