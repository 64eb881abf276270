"""Loads the .NET runtime into this (Python) process through the runtime's native hosting API and returns
C function pointers to [UnmanagedCallersOnly] methods. No pythonnet: ctypes over libhostfxr only.

A self-contained publish (bench/gpu/publish.sh) carries its own libhostfxr.so next to the app; a
framework-dependent build uses the installed runtime (DOTNET_ROOT, else the `dotnet` on PATH).
"""
import ctypes
import glob
import os
import shutil

HDT_GET_FUNCTION_POINTER = 6                      # hostfxr_delegate_type (.NET 5+)
UNMANAGEDCALLERSONLY_METHOD = ctypes.c_char_p(-1 & 0xFFFFFFFFFFFFFFFF)


class _InitParameters(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("host_path", ctypes.c_char_p), ("dotnet_root", ctypes.c_char_p)]


def _hostfxr_path(app_dir):
    local = os.path.join(app_dir, "libhostfxr.so")
    if os.path.exists(local):
        return local, app_dir
    root = os.environ.get("DOTNET_ROOT")
    if not root:
        exe = shutil.which("dotnet")
        if not exe:
            raise RuntimeError("no libhostfxr.so beside the app and no dotnet on PATH (set DOTNET_ROOT)")
        root = os.path.dirname(os.path.realpath(exe))
    found = sorted(glob.glob(os.path.join(root, "host", "fxr", "*", "libhostfxr.so")))
    if not found:
        raise RuntimeError(f"no host/fxr/*/libhostfxr.so under {root}")
    return found[-1], root


class DotnetHost:
    """The runtime loaded for `app_dll` (the harness's GpuKd.KernelBench.dll); `function(type, method)` returns
    the address of a static [UnmanagedCallersOnly] method."""

    def __init__(self, app_dll):
        app_dll = os.path.abspath(app_dll)
        app_dir = os.path.dirname(app_dll)
        fxr_path, root = _hostfxr_path(app_dir)
        self.fxr = ctypes.CDLL(fxr_path)
        init = self.fxr.hostfxr_initialize_for_dotnet_command_line
        init.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_InitParameters), ctypes.POINTER(ctypes.c_void_p)]
        init.restype = ctypes.c_int32
        host_path = os.path.splitext(app_dll)[0]
        params = _InitParameters(ctypes.sizeof(_InitParameters),
                                 host_path.encode() if os.path.exists(host_path) else app_dll.encode(), root.encode())
        argv = (ctypes.c_char_p * 1)(app_dll.encode())
        self.handle = ctypes.c_void_p()
        rc = init(1, argv, ctypes.byref(params), ctypes.byref(self.handle))
        if rc < 0 or not self.handle.value:   # 0 success, 1/2 success with an already-initialised runtime
            raise RuntimeError(f"hostfxr_initialize_for_dotnet_command_line failed: 0x{rc & 0xFFFFFFFF:08x}")
        get = self.fxr.hostfxr_get_runtime_delegate
        get.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
        get.restype = ctypes.c_int32
        fp = ctypes.c_void_p()
        rc = get(self.handle, HDT_GET_FUNCTION_POINTER, ctypes.byref(fp))
        if rc != 0:
            raise RuntimeError(f"hostfxr_get_runtime_delegate failed: 0x{rc & 0xFFFFFFFF:08x}")
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))
        self._get_function_pointer = proto(fp.value)
        self.assembly = os.path.splitext(os.path.basename(app_dll))[0]

    def function(self, type_name, method, restype, *argtypes):
        out = ctypes.c_void_p()
        qualified = f"{type_name}, {self.assembly}".encode()
        rc = self._get_function_pointer(qualified, method.encode(), UNMANAGEDCALLERSONLY_METHOD, None, None, ctypes.byref(out))
        if rc != 0:
            raise RuntimeError(f"get_function_pointer({type_name}.{method}) failed: 0x{rc & 0xFFFFFFFF:08x}")
        return ctypes.CFUNCTYPE(restype, *argtypes)(out.value)
