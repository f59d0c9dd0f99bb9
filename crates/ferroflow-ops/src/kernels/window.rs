//! The window geometry of a 2-D convolution over NHWC images with an HWIO filter: one type
//! for the im2col and the direct kernels.

/// Concrete sizes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub(crate) n: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) c: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) o: usize,
    pub(crate) sh: usize,
    pub(crate) sw: usize,
    pub(crate) dh: usize,
    pub(crate) dw: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    pub(crate) pt: usize,
    pub(crate) pl: usize,
}

impl Geom {
    /// Columns of the unfolded matrix: `kh·kw·cin`.
    pub(crate) fn k(&self) -> usize {
        self.kh * self.kw * self.c
    }
    pub(crate) fn in_image(&self) -> usize {
        self.h * self.w * self.c
    }
    pub(crate) fn out_pixels(&self) -> usize {
        self.oh * self.ow
    }
    #[cfg(test)]
    pub(crate) fn x_len(&self) -> usize {
        self.n * self.in_image()
    }
    #[cfg(test)]
    pub(crate) fn y_len(&self) -> usize {
        self.n * self.out_pixels() * self.o
    }
    #[cfg(test)]
    pub(crate) fn f_len(&self) -> usize {
        self.k() * self.o
    }
    pub(crate) fn x_shape(&self) -> [usize; 4] {
        [self.n, self.h, self.w, self.c]
    }
    pub(crate) fn y_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.o]
    }
    pub(crate) fn f_shape(&self) -> [usize; 4] {
        [self.kh, self.kw, self.c, self.o]
    }
    /// A 1×1, stride-1 convolution: the input already is the unfolded matrix.
    pub(crate) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }
}
