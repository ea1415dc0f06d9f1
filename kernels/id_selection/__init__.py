"""ID-Selection's iterative importance-diversity selection: torch reference + Triton kernel."""
from kernels.id_selection.reference import id_select_reference

__all__ = ["id_select_reference", "id_select"]


def id_select(scores, feats, k: int, gamma: float):
    """Dispatch: the Triton kernel on CUDA tensors, the torch reference elsewhere (CPU path)."""
    if scores.is_cuda:
        from kernels.id_selection.triton_kernel import id_select_triton

        return id_select_triton(scores, feats, k, gamma)
    return id_select_reference(scores, feats, k, gamma)
