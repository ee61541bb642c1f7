//! Unit tests of the VSX instructions. Expected values are worked out by hand from the ISA
//! definitions; instruction words in the decode table come from the binutils assembler.

use super::{lookup, lookup31};
use crate::cpu::{msr, Cpu, Exception};
use crate::insn::Insn;
use crate::testutil::{cpu, cpu_be, exec, try_exec, xx3_form, DATA};

/// (word, mnemonic) pairs assembled with `powerpc64le-linux-gnu-as -mpower9`.
const ENCODINGS: &[(u32, &str)] = &[
    (0x7c221c98, "lxsdx"),       // lxsdx 1,2,3
    (0x7c221c99, "lxsdx"),       // lxsdx 33,2,3
    (0x7c221898, "lxsiwax"),     // lxsiwax 1,2,3
    (0x7c221818, "lxsiwzx"),     // lxsiwzx 1,2,3
    (0x7c221c18, "lxsspx"),      // lxsspx 1,2,3
    (0x7c221e1a, "lxsibzx"),     // lxsibzx 1,2,3
    (0x7c221e5a, "lxsihzx"),     // lxsihzx 1,2,3
    (0x7c221e98, "lxvd2x"),      // lxvd2x 1,2,3
    (0x7c221e18, "lxvw4x"),      // lxvw4x 1,2,3
    (0x7c221e58, "lxvh8x"),      // lxvh8x 1,2,3
    (0x7c221ed8, "lxvb16x"),     // lxvb16x 1,2,3
    (0x7c221a98, "lxvdsx"),      // lxvdsx 1,2,3
    (0x7c221ad8, "lxvwsx"),      // lxvwsx 1,2,3
    (0x7c221a18, "lxvx"),        // lxvx 1,2,3
    (0x7c221a1a, "lxvl"),        // lxvl 1,2,3
    (0x7c221a5a, "lxvll"),       // lxvll 1,2,3
    (0xf4220011, "lxv"),         // lxv 1,16(2)
    (0xf422fff9, "lxv"),         // lxv 33,-16(2)
    (0xe422000a, "lxsd"),        // lxsd 1,8(2)
    (0xe422000b, "lxssp"),       // lxssp 1,8(2)
    (0x7c221d98, "stxsdx"),      // stxsdx 1,2,3
    (0x7c221918, "stxsiwx"),     // stxsiwx 1,2,3
    (0x7c221d18, "stxsspx"),     // stxsspx 1,2,3
    (0x7c221f1a, "stxsibx"),     // stxsibx 1,2,3
    (0x7c221f5a, "stxsihx"),     // stxsihx 1,2,3
    (0x7c221f98, "stxvd2x"),     // stxvd2x 1,2,3
    (0x7c221f18, "stxvw4x"),     // stxvw4x 1,2,3
    (0x7c221f58, "stxvh8x"),     // stxvh8x 1,2,3
    (0x7c221fd8, "stxvb16x"),    // stxvb16x 1,2,3
    (0x7c221b18, "stxvx"),       // stxvx 1,2,3
    (0x7c221b1a, "stxvl"),       // stxvl 1,2,3
    (0x7c221b5a, "stxvll"),      // stxvll 1,2,3
    (0xf4220015, "stxv"),        // stxv 1,16(2)
    (0xf422001d, "stxv"),        // stxv 33,16(2)
    (0xf422000a, "stxsd"),       // stxsd 1,8(2)
    (0xf422000b, "stxssp"),      // stxssp 1,8(2)
    (0x7c410066, "mfvsrd"),      // mfvsrd 1,2
    (0x7c4100e6, "mfvsrwz"),     // mfvsrwz 1,2
    (0x7c220166, "mtvsrd"),      // mtvsrd 1,2
    (0x7c2201a6, "mtvsrwa"),     // mtvsrwa 1,2
    (0x7c2201e6, "mtvsrwz"),     // mtvsrwz 1,2
    (0x7c410266, "mfvsrld"),     // mfvsrld 1,2
    (0x7c221b66, "mtvsrdd"),     // mtvsrdd 1,2,3
    (0x7c220326, "mtvsrws"),     // mtvsrws 1,2
    (0xf0221c10, "xxland"),      // xxland 1,2,3
    (0xf0221c50, "xxlandc"),     // xxlandc 1,2,3
    (0xf0221c90, "xxlor"),       // xxlor 1,2,3
    (0xf0221cd0, "xxlxor"),      // xxlxor 1,2,3
    (0xf0221d10, "xxlnor"),      // xxlnor 1,2,3
    (0xf0221d50, "xxlorc"),      // xxlorc 1,2,3
    (0xf0221d90, "xxlnand"),     // xxlnand 1,2,3
    (0xf0221dd0, "xxleqv"),      // xxleqv 1,2,3
    (0xf0221930, "xxsel"),       // xxsel 1,2,3,4
    (0xf022193f, "xxsel"),       // xxsel 33,34,35,36
    (0xf0221910, "xxsldwi"),     // xxsldwi 1,2,3,1
    (0xf0221b10, "xxsldwi"),     // xxsldwi 1,2,3,3
    (0xf0221950, "xxpermdi"),    // xxpermdi 1,2,3,1
    (0xf0221a50, "xxpermdi"),    // xxpermdi 1,2,3,2
    (0xf0221890, "xxmrghw"),     // xxmrghw 1,2,3
    (0xf0221990, "xxmrglw"),     // xxmrglw 1,2,3
    (0xf0221a90, "xxspltw"),     // xxspltw 1,3,2
    (0xf02642d0, "xxspltib"),    // xxspltib 1,200
    (0xf02642d1, "xxspltib"),    // xxspltib 33,200
    (0xf02218d0, "xxperm"),      // xxperm 1,2,3
    (0xf02219d0, "xxpermr"),     // xxpermr 1,2,3
    (0xf0251a94, "xxextractuw"), // xxextractuw 1,3,5
    (0xf0251ad4, "xxinsertw"),   // xxinsertw 1,3,5
    (0xf0271f6c, "xxbrh"),       // xxbrh 1,3
    (0xf02f1f6c, "xxbrw"),       // xxbrw 1,3
    (0xf0371f6c, "xxbrd"),       // xxbrd 1,3
    (0xf03f1f6c, "xxbrq"),       // xxbrq 1,3
    (0xf03f1eec, "xvtstdcsp"),   // xvtstdcsp 1,3,127
    (0xf03f1fec, "xvtstdcdp"),   // xvtstdcdp 1,3,127
    (0xf0211ea8, "xvtstdcsp"),   // xvtstdcsp 1,3,1
    (0xf0221ea8, "xvtstdcsp"),   // xvtstdcsp 1,3,2
    (0xf0201eac, "xvtstdcsp"),   // xvtstdcsp 1,3,32
    (0xf0201ee8, "xvtstdcsp"),   // xvtstdcsp 1,3,64
    (0xf17f1da8, "xststdcdp"),   // xststdcdp 2,3,127
    (0xf17f1ca8, "xststdcsp"),   // xststdcsp 2,3,127
    (0xf0221f2c, "xsiexpdp"),    // xsiexpdp 1,2,3
    (0xf0201d6c, "xsxexpdp"),    // xsxexpdp 1,3
    (0xf0211d6c, "xsxsigdp"),    // xsxsigdp 1,3
    (0xf0221fc0, "xviexpdp"),    // xviexpdp 1,2,3
    (0xf0221ec0, "xviexpsp"),    // xviexpsp 1,2,3
    (0xf0201f6c, "xvxexpdp"),    // xvxexpdp 1,3
    (0xf0281f6c, "xvxexpsp"),    // xvxexpsp 1,3
    (0xf0211f6c, "xvxsigdp"),    // xvxsigdp 1,3
    (0xf0291f6c, "xvxsigsp"),    // xvxsigsp 1,3
    (0xf0221d80, "xscpsgndp"),   // xscpsgndp 1,2,3
    (0xf0201d64, "xsabsdp"),     // xsabsdp 1,3
    (0xf0201da4, "xsnabsdp"),    // xsnabsdp 1,3
    (0xf0201de4, "xsnegdp"),     // xsnegdp 1,3
    (0xf0201f64, "xvabsdp"),     // xvabsdp 1,3
    (0xf0201fa4, "xvnabsdp"),    // xvnabsdp 1,3
    (0xf0201fe4, "xvnegdp"),     // xvnegdp 1,3
    (0xf0221f80, "xvcpsgndp"),   // xvcpsgndp 1,2,3
    (0xf0201e64, "xvabssp"),     // xvabssp 1,3
    (0xf0201ea4, "xvnabssp"),    // xvnabssp 1,3
    (0xf0201ee4, "xvnegsp"),     // xvnegsp 1,3
    (0xf0221e80, "xvcpsgnsp"),   // xvcpsgnsp 1,2,3
    (0x7fe21a19, "lxvx"),        // lxvx 63,2,3
    (0x7d021b19, "stxvx"),       // stxvx 40,2,3
    (0xf3e21c17, "xxland"),      // xxland 63,34,35
    (0xf0221933, "xxsel"),       // xxsel 33,2,35,4
    (0xf0221b57, "xxpermdi"),    // xxpermdi 33,34,35,3
    (0xf3e31a93, "xxspltw"),     // xxspltw 63,35,3
    (0xf100fd67, "xsabsdp"),     // xsabsdp 40,63
    (0xf3ff0f6f, "xxbrq"),       // xxbrq 63,33
    (0xf3ec1a97, "xxextractuw"), // xxextractuw 63,35,12
    (0xf025ffab, "xvtstdcdp"),   // xvtstdcdp 33,63,5
    (0xf381fdaa, "xststdcdp"),   // xststdcdp 7,63,1
    (0x7c410067, "mfvsrd"),      // mfvsrd 1,34
    (0x7c410167, "mtvsrd"),      // mtvsrd 34,1
    (0x7fe01b67, "mtvsrdd"),     // mtvsrdd 63,0,3
    (0xf0221900, "xsadddp"),     // xsadddp 1,2,3
    (0xf0221940, "xssubdp"),     // xssubdp 1,2,3
    (0xf0221980, "xsmuldp"),     // xsmuldp 1,2,3
    (0xf02219c0, "xsdivdp"),     // xsdivdp 1,2,3
    (0xf020192c, "xssqrtdp"),    // xssqrtdp 1,3
    (0xf0221800, "xsaddsp"),     // xsaddsp 1,2,3
    (0xf0221840, "xssubsp"),     // xssubsp 1,2,3
    (0xf0221880, "xsmulsp"),     // xsmulsp 1,2,3
    (0xf02218c0, "xsdivsp"),     // xsdivsp 1,2,3
    (0xf020182c, "xssqrtsp"),    // xssqrtsp 1,3
    (0xf0221908, "xsmaddadp"),   // xsmaddadp 1,2,3
    (0xf0221948, "xsmaddmdp"),   // xsmaddmdp 1,2,3
    (0xf0221988, "xsmsubadp"),   // xsmsubadp 1,2,3
    (0xf02219c8, "xsmsubmdp"),   // xsmsubmdp 1,2,3
    (0xf0221d08, "xsnmaddadp"),  // xsnmaddadp 1,2,3
    (0xf0221d48, "xsnmaddmdp"),  // xsnmaddmdp 1,2,3
    (0xf0221d88, "xsnmsubadp"),  // xsnmsubadp 1,2,3
    (0xf0221dc8, "xsnmsubmdp"),  // xsnmsubmdp 1,2,3
    (0xf0221808, "xsmaddasp"),   // xsmaddasp 1,2,3
    (0xf0221848, "xsmaddmsp"),   // xsmaddmsp 1,2,3
    (0xf0221888, "xsmsubasp"),   // xsmsubasp 1,2,3
    (0xf02218c8, "xsmsubmsp"),   // xsmsubmsp 1,2,3
    (0xf0221c08, "xsnmaddasp"),  // xsnmaddasp 1,2,3
    (0xf0221c48, "xsnmaddmsp"),  // xsnmaddmsp 1,2,3
    (0xf0221c88, "xsnmsubasp"),  // xsnmsubasp 1,2,3
    (0xf0221cc8, "xsnmsubmsp"),  // xsnmsubmsp 1,2,3
    (0xf0201968, "xsredp"),      // xsredp 1,3
    (0xf0201928, "xsrsqrtedp"),  // xsrsqrtedp 1,3
    (0xf0201868, "xsresp"),      // xsresp 1,3
    (0xf0201828, "xsrsqrtesp"),  // xsrsqrtesp 1,3
    (0xf1021918, "xscmpudp"),    // xscmpudp 2,2,3
    (0xf1021958, "xscmpodp"),    // xscmpodp 2,2,3
    (0xf0221818, "xscmpeqdp"),   // xscmpeqdp 1,2,3
    (0xf0221858, "xscmpgtdp"),   // xscmpgtdp 1,2,3
    (0xf0221898, "xscmpgedp"),   // xscmpgedp 1,2,3
    (0xf10219d8, "xscmpexpdp"),  // xscmpexpdp 2,2,3
    (0xf0221d00, "xsmaxdp"),     // xsmaxdp 1,2,3
    (0xf0221d40, "xsmindp"),     // xsmindp 1,2,3
    (0xf0221c00, "xsmaxcdp"),    // xsmaxcdp 1,2,3
    (0xf0221c40, "xsmincdp"),    // xsmincdp 1,2,3
    (0xf0221c80, "xsmaxjdp"),    // xsmaxjdp 1,2,3
    (0xf0221cc0, "xsminjdp"),    // xsminjdp 1,2,3
    (0xf10219e8, "xstdivdp"),    // xstdivdp 2,2,3
    (0xf10019a8, "xstsqrtdp"),   // xstsqrtdp 2,3
    (0xf0201924, "xsrdpi"),      // xsrdpi 1,3
    (0xf02019ac, "xsrdpic"),     // xsrdpic 1,3
    (0xf02019e4, "xsrdpim"),     // xsrdpim 1,3
    (0xf02019a4, "xsrdpip"),     // xsrdpip 1,3
    (0xf0201964, "xsrdpiz"),     // xsrdpiz 1,3
    (0xf0201c64, "xsrsp"),       // xsrsp 1,3
    (0xf0201c24, "xscvdpsp"),    // xscvdpsp 1,3
    (0xf0201c2c, "xscvdpspn"),   // xscvdpspn 1,3
    (0xf0201d24, "xscvspdp"),    // xscvspdp 1,3
    (0xf0201d2c, "xscvspdpn"),   // xscvspdpn 1,3
    (0xf0201d60, "xscvdpsxds"),  // xscvdpsxds 1,3
    (0xf0201960, "xscvdpsxws"),  // xscvdpsxws 1,3
    (0xf0201d20, "xscvdpuxds"),  // xscvdpuxds 1,3
    (0xf0201920, "xscvdpuxws"),  // xscvdpuxws 1,3
    (0xf0201de0, "xscvsxddp"),   // xscvsxddp 1,3
    (0xf0201da0, "xscvuxddp"),   // xscvuxddp 1,3
    (0xf0201ce0, "xscvsxdsp"),   // xscvsxdsp 1,3
    (0xf0201ca0, "xscvuxdsp"),   // xscvuxdsp 1,3
    (0xf0221b00, "xvadddp"),     // xvadddp 1,2,3
    (0xf0221b40, "xvsubdp"),     // xvsubdp 1,2,3
    (0xf0221b80, "xvmuldp"),     // xvmuldp 1,2,3
    (0xf0221bc0, "xvdivdp"),     // xvdivdp 1,2,3
    (0xf0201b2c, "xvsqrtdp"),    // xvsqrtdp 1,3
    (0xf0221a00, "xvaddsp"),     // xvaddsp 1,2,3
    (0xf0221a40, "xvsubsp"),     // xvsubsp 1,2,3
    (0xf0221a80, "xvmulsp"),     // xvmulsp 1,2,3
    (0xf0221ac0, "xvdivsp"),     // xvdivsp 1,2,3
    (0xf0201a2c, "xvsqrtsp"),    // xvsqrtsp 1,3
    (0xf0221b08, "xvmaddadp"),   // xvmaddadp 1,2,3
    (0xf0221b48, "xvmaddmdp"),   // xvmaddmdp 1,2,3
    (0xf0221b88, "xvmsubadp"),   // xvmsubadp 1,2,3
    (0xf0221bc8, "xvmsubmdp"),   // xvmsubmdp 1,2,3
    (0xf0221f08, "xvnmaddadp"),  // xvnmaddadp 1,2,3
    (0xf0221f48, "xvnmaddmdp"),  // xvnmaddmdp 1,2,3
    (0xf0221f88, "xvnmsubadp"),  // xvnmsubadp 1,2,3
    (0xf0221fc8, "xvnmsubmdp"),  // xvnmsubmdp 1,2,3
    (0xf0221a08, "xvmaddasp"),   // xvmaddasp 1,2,3
    (0xf0221a48, "xvmaddmsp"),   // xvmaddmsp 1,2,3
    (0xf0221a88, "xvmsubasp"),   // xvmsubasp 1,2,3
    (0xf0221ac8, "xvmsubmsp"),   // xvmsubmsp 1,2,3
    (0xf0221e08, "xvnmaddasp"),  // xvnmaddasp 1,2,3
    (0xf0221e48, "xvnmaddmsp"),  // xvnmaddmsp 1,2,3
    (0xf0221e88, "xvnmsubasp"),  // xvnmsubasp 1,2,3
    (0xf0221ec8, "xvnmsubmsp"),  // xvnmsubmsp 1,2,3
    (0xf0201b68, "xvredp"),      // xvredp 1,3
    (0xf0201b28, "xvrsqrtedp"),  // xvrsqrtedp 1,3
    (0xf0201a68, "xvresp"),      // xvresp 1,3
    (0xf0201a28, "xvrsqrtesp"),  // xvrsqrtesp 1,3
    (0xf0221b18, "xvcmpeqdp"),   // xvcmpeqdp 1,2,3
    (0xf0221f18, "xvcmpeqdp"),   // xvcmpeqdp. 1,2,3
    (0xf0221b58, "xvcmpgtdp"),   // xvcmpgtdp 1,2,3
    (0xf0221f58, "xvcmpgtdp"),   // xvcmpgtdp. 1,2,3
    (0xf0221b98, "xvcmpgedp"),   // xvcmpgedp 1,2,3
    (0xf0221f98, "xvcmpgedp"),   // xvcmpgedp. 1,2,3
    (0xf0221a18, "xvcmpeqsp"),   // xvcmpeqsp 1,2,3
    (0xf0221e18, "xvcmpeqsp"),   // xvcmpeqsp. 1,2,3
    (0xf0221a58, "xvcmpgtsp"),   // xvcmpgtsp 1,2,3
    (0xf0221e58, "xvcmpgtsp"),   // xvcmpgtsp. 1,2,3
    (0xf0221a98, "xvcmpgesp"),   // xvcmpgesp 1,2,3
    (0xf0221e98, "xvcmpgesp"),   // xvcmpgesp. 1,2,3
    (0xf0221f00, "xvmaxdp"),     // xvmaxdp 1,2,3
    (0xf0221f40, "xvmindp"),     // xvmindp 1,2,3
    (0xf0221e00, "xvmaxsp"),     // xvmaxsp 1,2,3
    (0xf0221e40, "xvminsp"),     // xvminsp 1,2,3
    (0xf1021be8, "xvtdivdp"),    // xvtdivdp 2,2,3
    (0xf1021ae8, "xvtdivsp"),    // xvtdivsp 2,2,3
    (0xf1001ba8, "xvtsqrtdp"),   // xvtsqrtdp 2,3
    (0xf1001aa8, "xvtsqrtsp"),   // xvtsqrtsp 2,3
    (0xf0201b24, "xvrdpi"),      // xvrdpi 1,3
    (0xf0201bac, "xvrdpic"),     // xvrdpic 1,3
    (0xf0201be4, "xvrdpim"),     // xvrdpim 1,3
    (0xf0201ba4, "xvrdpip"),     // xvrdpip 1,3
    (0xf0201b64, "xvrdpiz"),     // xvrdpiz 1,3
    (0xf0201a24, "xvrspi"),      // xvrspi 1,3
    (0xf0201aac, "xvrspic"),     // xvrspic 1,3
    (0xf0201ae4, "xvrspim"),     // xvrspim 1,3
    (0xf0201aa4, "xvrspip"),     // xvrspip 1,3
    (0xf0201a64, "xvrspiz"),     // xvrspiz 1,3
    (0xf0201e24, "xvcvdpsp"),    // xvcvdpsp 1,3
    (0xf0201f24, "xvcvspdp"),    // xvcvspdp 1,3
    (0xf0201f60, "xvcvdpsxds"),  // xvcvdpsxds 1,3
    (0xf0201b60, "xvcvdpsxws"),  // xvcvdpsxws 1,3
    (0xf0201f20, "xvcvdpuxds"),  // xvcvdpuxds 1,3
    (0xf0201b20, "xvcvdpuxws"),  // xvcvdpuxws 1,3
    (0xf0201e60, "xvcvspsxds"),  // xvcvspsxds 1,3
    (0xf0201a60, "xvcvspsxws"),  // xvcvspsxws 1,3
    (0xf0201e20, "xvcvspuxds"),  // xvcvspuxds 1,3
    (0xf0201a20, "xvcvspuxws"),  // xvcvspuxws 1,3
    (0xf0201fe0, "xvcvsxddp"),   // xvcvsxddp 1,3
    (0xf0201ee0, "xvcvsxdsp"),   // xvcvsxdsp 1,3
    (0xf0201be0, "xvcvsxwdp"),   // xvcvsxwdp 1,3
    (0xf0201ae0, "xvcvsxwsp"),   // xvcvsxwsp 1,3
    (0xf0201fa0, "xvcvuxddp"),   // xvcvuxddp 1,3
    (0xf0201ea0, "xvcvuxdsp"),   // xvcvuxdsp 1,3
    (0xf0201ba0, "xvcvuxwdp"),   // xvcvuxwdp 1,3
    (0xf0201aa0, "xvcvuxwsp"),   // xvcvuxwsp 1,3
    (0xf0381f6c, "xvcvhpsp"),    // xvcvhpsp 1,3
    (0xf0391f6c, "xvcvsphp"),    // xvcvsphp 1,3
    (0xf0301d6c, "xscvhpdp"),    // xscvhpdp 1,3
    (0xf0311d6c, "xscvdphp"),    // xscvdphp 1,3
    (0xf038ff6f, "xvcvhpsp"),    // xvcvhpsp 33,63
    (0xf3e2190f, "xsmaddadp"),   // xsmaddadp 63,34,35
    (0xf109569f, "xvcmpgesp"),   // xvcmpgesp. 40,41,42
    (0xf38111ee, "xstdivdp"),    // xstdivdp 7,33,34
    (0xf280e2aa, "xvtsqrtsp"),   // xvtsqrtsp 5,60
    (0xf24099af, "xsrdpic"),     // xsrdpic 50,51
];

fn name_of(w: u32) -> Option<&'static str> {
    let i = Insn(w);
    let e = if i.opcd() == 31 {
        lookup31(i)
    } else {
        lookup(i)
    };
    e.map(|e| e.0)
}

#[test]
fn decode_matches_assembler() {
    for &(w, n) in ENCODINGS {
        assert_eq!(name_of(w), Some(n), "word {w:#010x}");
    }
}

#[test]
fn decode_rejects_unassigned() {
    // xxbr* family with an unassigned sub-opcode, xsxexpdp family likewise, opcode 61 with
    // bits 29:31 = 0 (stfdp, not ours), opcode 57 xo 0 (lfdp) and xxspltib with bits 11:12 set.
    for w in [0xf0241f6c, 0xf0221d6c, 0xf4220010, 0xe4220008, 0xf03642d0] {
        assert_eq!(name_of(w), None, "word {w:#010x}");
    }
}

// ---------------------------------------------------------------------------------------------
// Encoders

/// X-form VSX load/store: 31 | T | RA | RB | xo | TX.
fn x31(xo: u32, xt: u32, ra: u32, rb: u32) -> u32 {
    31 << 26 | (xt & 31) << 21 | ra << 16 | rb << 11 | xo << 1 | xt >> 5
}

/// XX2-form: 60 | T | sub (bits 11:15) | B | xo9 | BX | TX.
fn xx2(xo: u32, xt: u32, sub: u32, xb: u32) -> u32 {
    60 << 26 | (xt & 31) << 21 | sub << 16 | (xb & 31) << 11 | xo << 2 | (xb >> 5) << 1 | xt >> 5
}

fn xx3(xo: u32, xt: u32, xa: u32, xb: u32) -> u32 {
    xx3_form(xt, xa, xb, xo)
}

/// Places the 32-byte pattern 00 01 .. 1f at DATA (and 80 81 .. 8f after it).
fn pattern(c: &Cpu) {
    let mut b = [0u8; 48];
    for (k, x) in b.iter_mut().enumerate() {
        *x = if k < 32 {
            k as u8
        } else {
            0x80 + (k - 32) as u8
        };
    }
    assert!(c.mem.write(DATA, &b));
}

fn mem16(c: &Cpu, ea: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    assert!(c.mem.read(ea, &mut b));
    b
}

fn mem_word(c: &Cpu, ea: u64, le: bool) -> u32 {
    let mut b = [0u8; 4];
    assert!(c.mem.read(ea, &mut b));
    if le {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

const SEQ: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Both CPUs (LE first) with the pattern loaded, r2 = DATA and r3 = 0.
fn both() -> [Cpu; 2] {
    let mut v = [cpu(), cpu_be()];
    for c in v.iter_mut() {
        pattern(c);
        c.gpr[2] = DATA;
        c.gpr[3] = 0;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Loads and stores

/// Vector loads of the 00..0f pattern: (load xo, store xo, VSR in LE mode, VSR in BE mode).
const VECTOR_LS: &[(u32, u32, u128, u128)] = &[
    // lxvd2x/stxvd2x: doublewords in the current byte order, element 0 from EA.
    (
        844,
        972,
        0x0706050403020100_0f0e0d0c0b0a0908,
        0x0001020304050607_08090a0b0c0d0e0f,
    ),
    // lxvw4x/stxvw4x: words.
    (
        780,
        908,
        0x03020100_07060504_0b0a0908_0f0e0d0c,
        0x00010203_04050607_08090a0b_0c0d0e0f,
    ),
    // lxvh8x/stxvh8x: halfwords.
    (
        812,
        940,
        0x0100_0302_0504_0706_0908_0b0a_0d0c_0f0e,
        0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f,
    ),
    // lxvb16x/stxvb16x: bytes, identical in both modes.
    (
        876,
        1004,
        0x00010203_04050607_08090a0b_0c0d0e0f,
        0x00010203_04050607_08090a0b_0c0d0e0f,
    ),
    // lxvx/stxvx: one quadword in the current byte order.
    (
        268,
        396,
        0x0f0e0d0c_0b0a0908_07060504_03020100,
        0x00010203_04050607_08090a0b_0c0d0e0f,
    ),
];

#[test]
fn vector_loads_and_stores_both_byte_orders() {
    for &(lxo, sxo, le, be) in VECTOR_LS {
        for (k, mut c) in both().into_iter().enumerate() {
            let want = if k == 0 { le } else { be };
            for xt in [1, 40] {
                exec(&mut c, x31(lxo, xt, 2, 3));
                assert_eq!(c.vsr128(xt as usize), want, "load xo {lxo} le={}", k == 0);
                // Storing the same value reproduces the memory image.
                c.gpr[4] = 0x100;
                exec(&mut c, x31(sxo, xt, 2, 4));
                assert_eq!(mem16(&c, DATA + 0x100), SEQ, "store xo {sxo}");
                assert!(c.mem.fill(DATA + 0x100, 16, 0));
            }
        }
    }
}

#[test]
fn lxv_stxv_dq_form() {
    for (k, mut c) in both().into_iter().enumerate() {
        // lxv vs33,16(r2): TX is bit 28; the pattern at DATA+16 is 10 11 .. 1f.
        let w = 61 << 26 | 1 << 21 | 2 << 16 | 16 | 1 << 3 | 1;
        exec(&mut c, w);
        let want = if k == 0 {
            0x1f1e1d1c_1b1a1918_17161514_13121110
        } else {
            0x10111213_14151617_18191a1b_1c1d1e1f
        };
        assert_eq!(c.vsr128(33), want);
        // stxv vs33,0x100(r2)
        exec(&mut c, 61 << 26 | 1 << 21 | 2 << 16 | 0x100 | 1 << 3 | 5);
        let m = mem16(&c, DATA + 0x100);
        assert_eq!(
            m,
            [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
        );
    }
}

#[test]
fn splat_loads() {
    for (k, mut c) in both().into_iter().enumerate() {
        let le = k == 0;
        c.vsr[5] = [1, 2];
        exec(&mut c, x31(332, 5, 2, 3)); // lxvdsx
        let d = if le {
            0x0706050403020100
        } else {
            0x0001020304050607
        };
        assert_eq!(c.vsr[5], [d, d]);
        c.gpr[3] = 4;
        exec(&mut c, x31(364, 37, 2, 3)); // lxvwsx vs37 from DATA+4
        let w: u128 = if le { 0x07060504 } else { 0x04050607 };
        assert_eq!(c.vsr128(37), w * 0x00000001_00000001_00000001_00000001);
    }
}

#[test]
fn scalar_integer_loads_and_stores() {
    for (k, mut c) in both().into_iter().enumerate() {
        let le = k == 0;
        c.vsr[1] = [!0, !0];
        exec(&mut c, x31(588, 1, 2, 3)); // lxsdx: dword 1 becomes 0
        let d = if le {
            0x0706050403020100
        } else {
            0x0001020304050607
        };
        assert_eq!(c.vsr[1], [d, 0]);

        c.gpr[3] = 32; // 80 81 82 83
        exec(&mut c, x31(76, 1, 2, 3)); // lxsiwax sign-extends
        let w = if le {
            0xffffffff_83828180
        } else {
            0xffffffff_80818283
        };
        assert_eq!(c.vsr[1], [w, 0]);
        exec(&mut c, x31(12, 1, 2, 3)); // lxsiwzx
        assert_eq!(c.vsr[1], [w & 0xffff_ffff, 0]);
        exec(&mut c, x31(781, 33, 2, 3)); // lxsibzx
        assert_eq!(c.vsr[33], [0x80, 0]);
        exec(&mut c, x31(813, 33, 2, 3)); // lxsihzx
        assert_eq!(c.vsr[33], [if le { 0x8180 } else { 0x8081 }, 0]);

        // Stores write the low-order bytes of doubleword 0 in the current byte order.
        c.vsr[7] = [0x1122334455667788, 0x99];
        c.vsr[39] = [0x1122334455667788, 0x99];
        c.gpr[4] = 0x100;
        let stores: [(u32, u32, [u8; 8], [u8; 8]); 4] = [
            (
                716,
                7,
                [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
                [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
            ),
            (
                140,
                7,
                [0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0],
                [0x55, 0x66, 0x77, 0x88, 0, 0, 0, 0],
            ),
            (
                941,
                39,
                [0x88, 0x77, 0, 0, 0, 0, 0, 0],
                [0x77, 0x88, 0, 0, 0, 0, 0, 0],
            ),
            (
                909,
                39,
                [0x88, 0, 0, 0, 0, 0, 0, 0],
                [0x88, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (xo, xs, mle, mbe) in stores {
            assert!(c.mem.fill(DATA + 0x100, 16, 0));
            exec(&mut c, x31(xo, xs, 2, 4));
            let m = mem16(&c, DATA + 0x100);
            assert_eq!(m[..8], if le { mle } else { mbe }, "store xo {xo}");
        }
    }
}

#[test]
fn single_precision_scalar_loads_convert_exactly() {
    // (single bits, double bits) per the ISA's lfs conversion.
    let cases: [(u32, u64); 7] = [
        (0x3f80_0000, 0x3ff0_0000_0000_0000), // 1.0
        (0x8000_0000, 0x8000_0000_0000_0000), // -0
        (0x0000_0001, 0x36a0_0000_0000_0000), // 2^-149, smallest denormal
        (0x007f_ffff, 0x380f_ffff_c000_0000), // largest denormal
        (0x8040_0000, 0xb800_0000_0000_0000), // -2^-127
        (0x7f80_0001, 0x7ff0_0000_2000_0000), // SNaN stays signalling
        (0xff80_0000, 0xfff0_0000_0000_0000), // -inf
    ];
    for (k, mut c) in both().into_iter().enumerate() {
        for (s, d) in cases {
            let b = if k == 0 {
                s.to_le_bytes()
            } else {
                s.to_be_bytes()
            };
            assert!(c.mem.write(DATA + 0x200, &b));
            c.gpr[3] = 0x200;
            c.vsr[1] = [0, !0];
            exec(&mut c, x31(524, 1, 2, 3)); // lxsspx
            assert_eq!(c.vsr[1], [d, 0], "lxsspx {s:#x}");
            // lxssp v1,0x200(r2) (DS-form, VR target)
            c.vsr[33] = [0, !0];
            exec(&mut c, 57 << 26 | 1 << 21 | 2 << 16 | 0x200 | 3);
            assert_eq!(c.vsr[33], [d, 0], "lxssp {s:#x}");
            // And back: stxsspx / stxssp reproduce the single.
            c.gpr[4] = 0x300;
            exec(&mut c, x31(652, 1, 2, 4));
            assert_eq!(mem_word(&c, DATA + 0x300, k == 0), s, "stxsspx {d:#x}");
            exec(&mut c, 61 << 26 | 1 << 21 | 2 << 16 | 0x310 | 3);
            assert_eq!(mem_word(&c, DATA + 0x310, k == 0), s, "stxssp {d:#x}");
        }
    }
}

#[test]
fn stxssp_truncates_like_stfs() {
    let mut c = cpu();
    c.gpr[2] = DATA;
    let cases: [(u64, u32); 4] = [
        // 1 + 2^-52 keeps only the leading 23 fraction bits.
        (0x3ff0_0000_0000_0001, 0x3f80_0000),
        // 1.5 * 2^-149 denormalises by truncation to 2^-149.
        (0x36a8_0000_0000_0000, 0x0000_0001),
        // -2^-130 = -(2^-4 * 2^-126).
        (0xb7d0_0000_0000_0000, 0x8008_0000),
        (0x7ff8_0000_0000_0000, 0x7fc0_0000),
    ];
    for (d, s) in cases {
        c.vsr[33] = [d, 0];
        exec(&mut c, 61 << 26 | 1 << 21 | 2 << 16 | 3);
        assert_eq!(mem_word(&c, DATA, true), s, "{d:#x}");
    }
}

#[test]
fn lxsd_stxsd() {
    for (k, mut c) in both().into_iter().enumerate() {
        c.vsr[34] = [0, !0];
        exec(&mut c, 57 << 26 | 2 << 21 | 2 << 16 | 8 | 2); // lxsd v2,8(r2)
        let d = if k == 0 {
            0x0f0e0d0c0b0a0908
        } else {
            0x08090a0b0c0d0e0f
        };
        assert_eq!(c.vsr[34], [d, 0]);
        exec(&mut c, 61 << 26 | 2 << 21 | 2 << 16 | 0x100 | 2); // stxsd v2,0x100(r2)
        assert_eq!(mem16(&c, DATA + 0x100)[..8], [8, 9, 10, 11, 12, 13, 14, 15]);
    }
    // The VR target makes these Vector instructions.
    let mut c = cpu();
    c.set_msr(c.msr & !msr::VEC);
    assert_eq!(
        try_exec(&mut c, 57 << 26 | 2 << 21 | 2),
        Err(Exception::VecUnavailable)
    );
}

#[test]
fn load_store_with_length() {
    for (k, mut c) in both().into_iter().enumerate() {
        let le = k == 0;
        // (RB bits 0:7, expected VSR for lxvl, for lxvll)
        let full_le = 0x0f0e0d0c_0b0a0908_07060504_03020100u128;
        let full_be = 0x00010203_04050607_08090a0b_0c0d0e0fu128;
        let cases: [(u64, u128, u128); 4] = [
            (0, 0, 0),
            (
                5,
                if le {
                    0x04_03020100
                } else {
                    0x00_0102_0304u128 << 88
                },
                0x00_0102_0304u128 << 88,
            ),
            (16, if le { full_le } else { full_be }, full_be),
            (0xff, if le { full_le } else { full_be }, full_be),
        ];
        for (nb, lxvl, lxvll) in cases {
            c.gpr[3] = nb << 56 | 0xffff; // only bits 0:7 count
            c.set_vsr128(1, u128::MAX);
            exec(&mut c, x31(269, 1, 2, 3));
            assert_eq!(c.vsr128(1), lxvl, "lxvl nb={nb} le={le}");
            c.set_vsr128(33, u128::MAX);
            exec(&mut c, x31(301, 33, 2, 3));
            assert_eq!(c.vsr128(33), lxvll, "lxvll nb={nb} le={le}");
        }
        // Stores: only nb bytes are written.
        c.set_vsr128(1, 0x00112233_44556677_8899aabb_ccddeeff);
        c.gpr[4] = DATA + 0x100;
        c.gpr[3] = 5 << 56;
        assert!(c.mem.fill(DATA + 0x100, 32, 0x5a));
        exec(&mut c, x31(397, 1, 4, 3)); // stxvl
        let m = mem16(&c, DATA + 0x100);
        let want: [u8; 5] = if le {
            [0xff, 0xee, 0xdd, 0xcc, 0xbb]
        } else {
            [0x00, 0x11, 0x22, 0x33, 0x44]
        };
        assert_eq!(m[..5], want);
        assert_eq!(m[5..], [0x5a; 11]);
        exec(&mut c, x31(429, 1, 4, 3)); // stxvll: left-justified in both modes
        assert_eq!(
            mem16(&c, DATA + 0x100)[..6],
            [0x00, 0x11, 0x22, 0x33, 0x44, 0x5a]
        );
        c.gpr[3] = 20 << 56;
        exec(&mut c, x31(397, 1, 4, 3));
        let m = mem16(&c, DATA + 0x100);
        let full = c.vsr128(1);
        assert_eq!(
            m,
            if le {
                full.to_le_bytes()
            } else {
                full.to_be_bytes()
            }
        );
        assert_eq!(mem16(&c, DATA + 0x110)[0], 0x5a);
        c.gpr[3] = 0;
        exec(&mut c, x31(397, 1, 0, 3)); // nb = 0 stores nothing, even at EA 0
    }
}

#[test]
fn facility_checks() {
    let mut c = cpu();
    c.gpr[2] = DATA;
    c.set_msr(c.msr & !msr::VSX);
    // 2.06 loads need VSX even for VR targets.
    assert_eq!(
        try_exec(&mut c, x31(844, 40, 2, 3)),
        Err(Exception::VsxUnavailable)
    );
    // 3.0 lxvx on a VR only needs VEC.
    exec(&mut c, x31(268, 40, 2, 3));
    assert_eq!(
        try_exec(&mut c, x31(268, 8, 2, 3)),
        Err(Exception::VsxUnavailable)
    );
    // mfvsrd: FP for the FPR half, VEC for the VR half.
    exec(&mut c, x31(51, 3, 4, 0));
    c.set_msr(c.msr & !msr::FP);
    assert_eq!(
        try_exec(&mut c, x31(51, 3, 4, 0)),
        Err(Exception::FpUnavailable)
    );
    exec(&mut c, x31(51, 35, 4, 0));
    c.set_msr(c.msr & !msr::VEC);
    assert_eq!(
        try_exec(&mut c, x31(51, 35, 4, 0)),
        Err(Exception::VecUnavailable)
    );
}

#[test]
fn gpr_vsr_moves() {
    let mut c = cpu();
    // mfvsrd r4,vs3 / mfvsrwz / mfvsrld (XS in bits 6:10, RA in 11:15)
    c.vsr[35] = [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321];
    exec(&mut c, x31(51, 35, 4, 0));
    assert_eq!(c.gpr[4], 0x1234_5678_9abc_def0);
    exec(&mut c, x31(115, 35, 4, 0));
    assert_eq!(c.gpr[4], 0x9abc_def0);
    exec(&mut c, x31(307, 35, 4, 0));
    assert_eq!(c.gpr[4], 0x0fed_cba9_8765_4321);
    // mtvsrd / mtvsrwa / mtvsrwz write doubleword 0.
    c.gpr[5] = 0xffff_ffff_8000_0001;
    exec(&mut c, x31(179, 6, 5, 0));
    assert_eq!(c.vsr[6][0], 0xffff_ffff_8000_0001);
    exec(&mut c, x31(211, 6, 5, 0));
    assert_eq!(c.vsr[6][0], 0xffff_ffff_8000_0001);
    c.gpr[5] = 0x1_7fff_ffff;
    exec(&mut c, x31(211, 6, 5, 0));
    assert_eq!(c.vsr[6][0], 0x7fff_ffff);
    c.gpr[5] = 0x1_8000_0000;
    exec(&mut c, x31(243, 6, 5, 0));
    assert_eq!(c.vsr[6][0], 0x8000_0000);
    // mtvsrdd with RA=0 gives 0 in doubleword 0.
    c.gpr[7] = 0x77;
    c.gpr[8] = 0x88;
    exec(&mut c, x31(435, 40, 7, 8));
    assert_eq!(c.vsr[40], [0x77, 0x88]);
    exec(&mut c, x31(435, 40, 0, 8));
    assert_eq!(c.vsr[40], [0, 0x88]);
    // mtvsrws splats the low word.
    c.gpr[9] = 0xdead_beef_0102_0304;
    exec(&mut c, x31(403, 41, 9, 0));
    assert_eq!(c.vsr[41], [0x0102_0304_0102_0304; 2]);
}

// ---------------------------------------------------------------------------------------------
// Logical and permute

const A: u128 = 0x00010203_04050607_08090a0b_0c0d0e0f;
const B: u128 = 0x10111213_14151617_18191a1b_1c1d1e1f;

/// XX4-form xxsel.
fn xxsel(xt: u32, xa: u32, xb: u32, xc: u32) -> u32 {
    60 << 26
        | (xt & 31) << 21
        | (xa & 31) << 16
        | (xb & 31) << 11
        | (xc & 31) << 6
        | 3 << 4
        | (xc >> 5) << 3
        | (xa >> 5) << 2
        | (xb >> 5) << 1
        | xt >> 5
}

#[test]
fn logical_ops() {
    let mut c = cpu();
    let a = 0xff00u128 * (u128::MAX / 0xffff);
    let b = 0xf0f0u128 * (u128::MAX / 0xffff);
    c.set_vsr128(34, a);
    c.set_vsr128(3, b);
    let cases: [(u32, u16); 8] = [
        (130, 0xf000), // xxland
        (138, 0x0f00), // xxlandc
        (146, 0xfff0), // xxlor
        (154, 0x0ff0), // xxlxor
        (162, 0x000f), // xxlnor
        (170, 0xff0f), // xxlorc
        (178, 0x0fff), // xxlnand
        (186, 0xf00f), // xxleqv
    ];
    for (xo, h) in cases {
        exec(&mut c, xx3(xo, 63, 34, 3));
        assert_eq!(c.vsr128(63), h as u128 * (u128::MAX / 0xffff), "xo {xo}");
    }
    // xxsel: bits of XB where XC is 1, of XA where it is 0.
    c.set_vsr128(1, 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f);
    c.set_vsr128(2, 0xf0f0_f0f0_f0f0_f0f0_f0f0_f0f0_f0f0_f0f0);
    c.set_vsr128(36, 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff);
    exec(&mut c, xxsel(40, 1, 2, 36));
    assert_eq!(c.vsr128(40), 0x0ff0u128 * (u128::MAX / 0xffff));
}

#[test]
fn xxperm_and_xxpermr() {
    let mut c = cpu();
    // With XA = 00..0f and XT = 10..1f, byte k of XA || XT is k, so results show the indices.
    let sel: u128 = 0x1f00100f_21e51308_00000000_0000003e;
    for (xo, want) in [
        (26, 0x1f00100f_01051308_00000000_0000001eu128), // xxperm
        (58, 0x001f0f10_1e1a0c17_1f1f1f1f_1f1f1f01u128), // xxpermr
    ] {
        c.set_vsr128(2, A);
        c.set_vsr128(1, B);
        c.set_vsr128(3, sel);
        exec(&mut c, xx3(xo, 1, 2, 3));
        assert_eq!(c.vsr128(1), want, "xo {xo}");
    }
}

#[test]
fn xxsldwi_xxpermdi_merges_splats() {
    let mut c = cpu();
    c.set_vsr128(2, A);
    c.set_vsr128(35, B);
    for (shw, want) in [
        (0, A),
        (1, 0x04050607_08090a0b_0c0d0e0f_10111213u128),
        (3, 0x0c0d0e0f_10111213_14151617_18191a1bu128),
    ] {
        exec(&mut c, xx3(2 | shw << 5, 1, 2, 35));
        assert_eq!(c.vsr128(1), want, "shw {shw}");
    }
    for (dm, want) in [
        (0, [0x0001020304050607, 0x1011121314151617]),
        (1, [0x0001020304050607, 0x18191a1b1c1d1e1f]),
        (2, [0x08090a0b0c0d0e0f, 0x1011121314151617]),
        (3, [0x08090a0b0c0d0e0f, 0x18191a1b1c1d1e1f]),
    ] {
        exec(&mut c, xx3(10 | dm << 5, 1, 2, 35));
        assert_eq!(c.vsr[1], want, "dm {dm}");
    }
    exec(&mut c, xx3(18, 1, 2, 35)); // xxmrghw
    assert_eq!(c.vsr128(1), 0x00010203_10111213_04050607_14151617);
    exec(&mut c, xx3(50, 1, 2, 35)); // xxmrglw
    assert_eq!(c.vsr128(1), 0x08090a0b_18191a1b_0c0d0e0f_1c1d1e1f);
    exec(&mut c, xx2(164, 1, 2, 35)); // xxspltw vs1,vs35,2
    assert_eq!(c.vsr128(1), 0x18191a1b_18191a1b_18191a1b_18191a1b);
}

/// xxspltib: X-form with IMM8 in bits 13:20.
fn xxspltib(xt: u32, imm: u32) -> u32 {
    60 << 26 | (xt & 31) << 21 | imm << 11 | 360 << 1 | xt >> 5
}

#[test]
fn xxspltib_splats_and_checks_facility_by_half() {
    let mut c = cpu();
    exec(&mut c, xxspltib(33, 200));
    assert_eq!(c.vsr[33], [0xc8c8_c8c8_c8c8_c8c8; 2]);
    exec(&mut c, xxspltib(1, 0x7f));
    assert_eq!(c.vsr[1], [0x7f7f_7f7f_7f7f_7f7f; 2]);
    c.set_msr(c.msr & !msr::VSX);
    exec(&mut c, xxspltib(33, 1));
    assert_eq!(
        try_exec(&mut c, xxspltib(1, 1)),
        Err(Exception::VsxUnavailable)
    );
    c.set_msr((c.msr | msr::VSX) & !msr::VEC);
    assert_eq!(
        try_exec(&mut c, xxspltib(33, 1)),
        Err(Exception::VecUnavailable)
    );
}

#[test]
fn xxextractuw_xxinsertw() {
    let mut c = cpu();
    c.set_vsr128(3, A);
    c.vsr[1] = [!0, !0];
    exec(&mut c, xx2(165, 1, 5, 3)); // xxextractuw vs1,vs3,5
    assert_eq!(c.vsr[1], [0x0506_0708, 0]);
    exec(&mut c, xx2(165, 1, 12, 3));
    assert_eq!(c.vsr[1], [0x0c0d_0e0f, 0]);
    // xxinsertw: word 1 of XB goes to bytes UIM..UIM+3, the rest of XT is kept.
    c.set_vsr128(4, 0xaaaaaaaa_11223344_bbbbbbbb_cccccccc);
    c.set_vsr128(40, u128::MAX);
    exec(&mut c, xx2(181, 40, 5, 4));
    assert_eq!(c.vsr128(40), 0xffffffff_ff112233_44ffffff_ffffffff);
    exec(&mut c, xx2(181, 40, 0, 4));
    assert_eq!(c.vsr128(40), 0x11223344_ff112233_44ffffff_ffffffff);
}

#[test]
fn byte_reverse() {
    let mut c = cpu();
    c.set_vsr128(35, A);
    for (sub, want) in [
        (7, 0x01000302_05040706_09080b0a_0d0c0f0eu128),
        (15, 0x03020100_07060504_0b0a0908_0f0e0d0cu128),
        (23, 0x07060504_03020100_0f0e0d0c_0b0a0908u128),
        (31, 0x0f0e0d0c_0b0a0908_07060504_03020100u128),
    ] {
        exec(&mut c, xx2(475, 1, sub, 35));
        assert_eq!(c.vsr128(1), want, "sub {sub}");
    }
}

// ---------------------------------------------------------------------------------------------
// Sign, data class and fields

#[test]
fn sign_operations() {
    let mut c = cpu();
    let m15 = 0xbff8_0000_0000_0000u64; // -1.5
    c.vsr[3] = [m15, 0x1234];
    c.vsr[2] = [0x8000_0000_0000_0000, 0];
    for (xo, want) in [
        (345, 0x3ff8_0000_0000_0000u64),
        (361, m15),
        (377, 0x3ff8_0000_0000_0000),
    ] {
        c.vsr[1] = [0, !0];
        exec(&mut c, xx2(xo, 1, 0, 3));
        assert_eq!(c.vsr[1], [want, 0], "xo {xo}");
    }
    // xscpsgndp: sign of XA, rest of XB.
    c.vsr[4] = [0x4000_0000_0000_0000, 0];
    exec(&mut c, xx3(176, 1, 2, 4));
    assert_eq!(c.vsr[1], [0xc000_0000_0000_0000, 0]);
    // Vector forms act on every element.
    c.vsr[5] = [0x3f80_0000_bf80_0000, 0x0000_0000_8000_0000];
    exec(&mut c, xx2(441, 1, 0, 5)); // xvnegsp
    assert_eq!(c.vsr[1], [0xbf80_0000_3f80_0000, 0x8000_0000_0000_0000]);
    exec(&mut c, xx2(409, 1, 0, 5)); // xvabssp
    assert_eq!(c.vsr[1], [0x3f80_0000_3f80_0000, 0]);
    exec(&mut c, xx2(425, 1, 0, 5)); // xvnabssp
    assert_eq!(c.vsr[1], [0xbf80_0000_bf80_0000, 0x8000_0000_8000_0000]);
    c.vsr[6] = [m15, 0x3ff0_0000_0000_0000];
    exec(&mut c, xx2(473, 1, 0, 6)); // xvabsdp
    assert_eq!(c.vsr[1], [0x3ff8_0000_0000_0000, 0x3ff0_0000_0000_0000]);
    exec(&mut c, xx2(505, 1, 0, 6)); // xvnegdp
    assert_eq!(c.vsr[1], [0x3ff8_0000_0000_0000, 0xbff0_0000_0000_0000]);
    exec(&mut c, xx2(489, 1, 0, 6)); // xvnabsdp
    assert_eq!(c.vsr[1], [m15, 0xbff0_0000_0000_0000]);
    c.vsr[7] = [0x8000_0000_0000_0000, 0];
    exec(&mut c, xx3(240, 1, 7, 6)); // xvcpsgndp
    assert_eq!(c.vsr[1], [m15, 0x3ff0_0000_0000_0000]);
    c.vsr[8] = [0x8000_0000_0000_0000, 0x0000_0000_8000_0000];
    exec(&mut c, xx3(208, 1, 8, 5)); // xvcpsgnsp
    assert_eq!(c.vsr[1], [0xbf80_0000_3f80_0000, 0x0000_0000_8000_0000]);
}

/// xvtstdcsp/xvtstdcdp with DCMX split into dc (bit 25), dm (bit 29), dx (bits 11:15).
fn xvtstdc(sp: bool, xt: u32, xb: u32, dcmx: u32) -> u32 {
    60 << 26
        | (xt & 31) << 21
        | (dcmx & 31) << 16
        | (xb & 31) << 11
        | (if sp { 0b1101 } else { 0b1111 }) << 7
        | (dcmx >> 6 & 1) << 6
        | 0b101 << 3
        | (dcmx >> 5 & 1) << 2
        | (xb >> 5) << 1
        | xt >> 5
}

/// xststdcdp/xststdcsp BF,XB,DCMX.
fn xststdc(xo: u32, bf: u32, xb: u32, dcmx: u32) -> u32 {
    60 << 26 | bf << 23 | dcmx << 16 | (xb & 31) << 11 | xo << 2 | (xb >> 5) << 1
}

#[test]
fn vector_test_data_class() {
    assert_eq!(xvtstdc(true, 1, 3, 127), 0xf03f1eec);
    assert_eq!(xvtstdc(false, 33, 63, 5), 0xf025ffab);
    let mut c = cpu();
    // NaN, -inf, +0, -denormal
    c.set_vsr128(3, 0x7fc00000_ff800000_00000000_80000001);
    for (dcmx, want) in [
        (0x40, 0xffffffff_00000000_00000000_00000000u128),
        (0x10, 0x00000000_ffffffff_00000000_00000000),
        (0x20, 0),
        (0x08, 0x00000000_00000000_ffffffff_00000000),
        (0x04, 0),
        (0x01, 0x00000000_00000000_00000000_ffffffff),
        (0x02, 0),
        (0x7f, u128::MAX),
    ] {
        exec(&mut c, xvtstdc(true, 1, 3, dcmx));
        assert_eq!(c.vsr128(1), want, "dcmx {dcmx:#x}");
    }
    c.vsr[35] = [0x7ff0_0000_0000_0000, 0x8000_0000_0000_0000];
    exec(&mut c, xvtstdc(false, 1, 35, 0x20));
    assert_eq!(c.vsr[1], [u64::MAX, 0]);
    exec(&mut c, xvtstdc(false, 1, 35, 0x04));
    assert_eq!(c.vsr[1], [0, u64::MAX]);
    c.vsr[35] = [0x3ff0_0000_0000_0000, 0x0000_0000_0000_0001];
    exec(&mut c, xvtstdc(false, 1, 35, 0x7d));
    assert_eq!(c.vsr[1], [0, 0]);
    exec(&mut c, xvtstdc(false, 1, 35, 0x02));
    assert_eq!(c.vsr[1], [0, u64::MAX]);
}

#[test]
fn scalar_test_data_class() {
    assert_eq!(xststdc(362, 2, 3, 127), 0xf17f1da8);
    let mut c = cpu();
    c.vsr[3] = [0x8000_0000_0000_0000, 0]; // -0
    exec(&mut c, xststdc(362, 2, 3, 0x04));
    assert_eq!(c.crf(2), 0b1010);
    assert_eq!(c.fpscr >> 12 & 0xf, 0b1010);
    exec(&mut c, xststdc(362, 2, 3, 0x08));
    assert_eq!(c.crf(2), 0b1000);
    // xststdcsp: 0.1 is not a single (SO), and normal (no match).
    c.vsr[40] = [0x3fb9_9999_9999_999a, 0];
    exec(&mut c, xststdc(298, 7, 40, 0x7f));
    assert_eq!(c.crf(7), 0b0001);
    // 2^-130 is a single denormal, exactly representable.
    c.vsr[40] = [0x37d0_0000_0000_0000, 0];
    exec(&mut c, xststdc(298, 7, 40, 0x02));
    assert_eq!(c.crf(7), 0b0010);
    exec(&mut c, xststdc(362, 7, 40, 0x02)); // but a normal double
    assert_eq!(c.crf(7), 0b0000);
    // A default NaN converts to a single and back unchanged.
    c.vsr[40] = [0x7ff8_0000_0000_0000, 0];
    exec(&mut c, xststdc(298, 0, 40, 0x40));
    assert_eq!(c.crf(0), 0b0010);
    c.vsr[40] = [0x7e37_e43c_8800_759c, 0]; // 1e300
    exec(&mut c, xststdc(298, 0, 40, 0x00));
    assert_eq!(c.crf(0), 0b0001);
}

#[test]
fn exponent_and_significand_fields() {
    let mut c = cpu();
    // xsiexpdp vs1,r4,r5: sign and fraction of RA, exponent from RB bits 53:63.
    c.gpr[4] = 0xfff0_0000_0000_0001;
    c.gpr[5] = 0xf3ff;
    exec(&mut c, 60 << 26 | 1 << 21 | 4 << 16 | 5 << 11 | 918 << 1);
    assert_eq!(c.vsr[1], [0xbff0_0000_0000_0001, 0]);
    // xsxexpdp / xsxsigdp r6,vs1
    exec(&mut c, xx2(347, 6, 0, 1));
    assert_eq!(c.gpr[6], 0x3ff);
    exec(&mut c, xx2(347, 6, 1, 1));
    assert_eq!(c.gpr[6], 0x0010_0000_0000_0001);
    c.vsr[2] = [0x0000_0000_0000_0005, 0]; // denormal: no implicit bit
    exec(&mut c, xx2(347, 6, 1, 2));
    assert_eq!(c.gpr[6], 5);
    c.vsr[2] = [0xfff0_0000_0000_0000, 0]; // -inf: exponent all ones, no implicit bit
    exec(&mut c, xx2(347, 6, 1, 2));
    assert_eq!(c.gpr[6], 0);
    exec(&mut c, xx2(347, 6, 0, 2));
    assert_eq!(c.gpr[6], 0x7ff);
    // Vector forms.
    c.vsr[3] = [0x8000_0000_0000_0003, 0x7fff_ffff_ffff_ffff];
    c.vsr[4] = [0x400, 0x1];
    exec(&mut c, xx3(248, 1, 3, 4)); // xviexpdp
    assert_eq!(c.vsr[1], [0xc000_0000_0000_0003, 0x001f_ffff_ffff_ffff]);
    exec(&mut c, xx2(475, 5, 0, 1)); // xvxexpdp
    assert_eq!(c.vsr[5], [0x400, 0x001]);
    exec(&mut c, xx2(475, 5, 1, 1)); // xvxsigdp
    assert_eq!(c.vsr[5], [0x0010_0000_0000_0003, 0x001f_ffff_ffff_ffff]);
    c.set_vsr128(3, 0x807f_ffff_0000_0001_3f80_0000_0000_0000);
    c.set_vsr128(4, 0x0000_0080_0000_00ff_0000_0000_0000_0001);
    exec(&mut c, xx3(216, 1, 3, 4)); // xviexpsp
    assert_eq!(c.vsr128(1), 0xc07f_ffff_7f80_0001_0000_0000_0080_0000);
    exec(&mut c, xx2(475, 5, 8, 1)); // xvxexpsp
    assert_eq!(c.vsr128(5), 0x0000_0080_0000_00ff_0000_0000_0000_0001);
    exec(&mut c, xx2(475, 5, 9, 1)); // xvxsigsp
    assert_eq!(c.vsr128(5), 0x00ff_ffff_0000_0001_0000_0000_0080_0000);
}

// ---------------------------------------------------------------------------------------------
// Floating point

use crate::insn::fp::fpu::{
    FEX, FI, FPRF, FR, FX, OX, UX, VE, VXCVI, VXISI, VXSNAN, VXSQRT, VXVC, XE, XX, ZE, ZX,
};

const ONE: u64 = 0x3ff0_0000_0000_0000;
const TWO: u64 = 0x4000_0000_0000_0000;
const THREE: u64 = 0x4008_0000_0000_0000;
const QNAN: u64 = 0x7ff8_0000_0000_0000;
const SNAN: u64 = 0x7ff0_0000_0000_0001;
const PZERO: u64 = 0;
const NZERO: u64 = 0x8000_0000_0000_0000;
/// FPRF codes shifted into place.
const FPRF_PNORM: u64 = 0b00100 << 12;
const FPRF_QNAN: u64 = 0b10001 << 12;
/// RN values.
const RN_ZERO: u64 = 1;
const RN_UP: u64 = 2;
const RN_DOWN: u64 = 3;

fn fp_cpu(rn: u64) -> Cpu {
    let mut c = cpu();
    c.fpscr = rn;
    c
}

/// Runs an XX3 scalar op on (a, b) with XT initially `t`; returns doubleword 0 and checks dw1 = 0.
fn xs3(c: &mut Cpu, xo: u32, a: u64, b: u64, t: u64) -> u64 {
    c.vsr[2] = [a, 0x1111];
    c.vsr[35] = [b, 0x2222];
    c.vsr[60] = [t, 0x3333];
    exec(c, xx3(xo, 60, 2, 35));
    // A written scalar result has doubleword 1 = 0; a suppressed one leaves the target.
    assert!(
        c.vsr[60][1] == 0 || c.vsr[60] == [t, 0x3333],
        "doubleword 1"
    );
    c.vsr[60][0]
}

fn xs2(c: &mut Cpu, xo: u32, b: u64) -> u64 {
    c.vsr[35] = [b, 0x2222];
    c.vsr[60] = [0x5555, 0x3333];
    exec(c, xx2(xo, 60, 0, 35));
    c.vsr[60][0]
}

#[test]
fn scalar_add_in_every_rounding_mode() {
    let tiny = 0x3ca0_0000_0000_0000; // 2^-53: exactly half an ulp of 1.0
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 32, ONE, TWO, 0), THREE);
    assert_eq!(c.fpscr & (FPRF | FR | FI | XX), FPRF_PNORM);
    // Ties to even: 1 + 2^-53 -> 1.0, inexact, not incremented.
    assert_eq!(xs3(&mut c, 32, ONE, tiny, 0), ONE);
    assert_eq!(c.fpscr & (FR | FI | XX | FX), FI | XX | FX);
    for (rn, want) in [(RN_ZERO, ONE), (RN_UP, ONE + 1), (RN_DOWN, ONE)] {
        let mut c = fp_cpu(rn);
        assert_eq!(xs3(&mut c, 32, ONE, tiny, 0), want, "rn {rn}");
        assert_eq!(c.fpscr & FR != 0, rn == RN_UP, "FR rn {rn}");
        // The negative sum rounds the other way.
        let neg = xs3(&mut c, 32, ONE | 1 << 63, tiny | 1 << 63, 0);
        assert_eq!(neg, (ONE | 1 << 63) + (rn == RN_DOWN) as u64, "neg rn {rn}");
    }
    // xssubdp, xsmuldp, xsdivdp
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 40, ONE, THREE, 0), 0xc000_0000_0000_0000);
    assert_eq!(xs3(&mut c, 48, THREE, TWO, 0), 0x4018_0000_0000_0000);
    assert_eq!(xs3(&mut c, 56, THREE, TWO, 0), 0x3ff8_0000_0000_0000);
}

#[test]
fn scalar_single_precision_rounds_to_single() {
    // 1 + 2^-24 is half an ulp of 1.0 in single precision.
    let x = 0x3e70_0000_0000_0000;
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 0, ONE, x, 0), ONE); // xsaddsp
    assert!(c.fpscr & XX != 0);
    let mut c = fp_cpu(RN_UP);
    assert_eq!(xs3(&mut c, 0, ONE, x, 0), 0x3ff0_0000_2000_0000);
    assert_eq!(c.fpscr & (FPRF | FR | FI), FPRF_PNORM | FR | FI);
    // xsdivsp 1/3 in single precision, round to nearest: 0x3eaaaaab as a double.
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 24, ONE, THREE, 0), 0x3fd5_5555_6000_0000);
    // Round toward zero truncates instead: 0x3eaaaaaa.
    let mut c = fp_cpu(RN_ZERO);
    assert_eq!(xs3(&mut c, 24, ONE, THREE, 0), 0x3fd5_5555_4000_0000);
}

#[test]
fn scalar_fma_operand_roles() {
    let ten = 0x4024_0000_0000_0000;
    let mut c = fp_cpu(0);
    // "a" forms: XA × XB + XT = 2 × 10 + 3; "m" forms: XA × XT + XB = 2 × 3 + 10.
    assert_eq!(xs3(&mut c, 33, TWO, ten, THREE), 0x4037_0000_0000_0000); // 23
    assert_eq!(xs3(&mut c, 41, TWO, ten, THREE), 0x4030_0000_0000_0000); // 16
    assert_eq!(xs3(&mut c, 49, TWO, ten, THREE), 0x4031_0000_0000_0000); // 17
    assert_eq!(xs3(&mut c, 57, TWO, ten, THREE), 0xc010_0000_0000_0000); // 6 - 10 = -4
    assert_eq!(xs3(&mut c, 161, TWO, ten, THREE), 0xc037_0000_0000_0000); // -23
    assert_eq!(xs3(&mut c, 177, TWO, ten, THREE), 0xc031_0000_0000_0000); // -17
                                                                          // Single-precision form: 2 × 10 + 3 is exact.
    assert_eq!(xs3(&mut c, 1, TWO, ten, THREE), 0x4037_0000_0000_0000);
    // One rounding: (1 + 2^-52)(1 - 2^-52) - 1 = -2^-104 exactly.
    let a = ONE + 1;
    let b = 0x3fef_ffff_ffff_fffe; // 1 - 2^-52
    assert_eq!(xs3(&mut c, 49, a, b, ONE), 0xb970_0000_0000_0000);
}

#[test]
fn scalar_special_results_and_suppression() {
    let mut c = fp_cpu(0);
    assert_eq!(xs2(&mut c, 75, 0x4010_0000_0000_0000), TWO); // xssqrtdp 4
    assert_eq!(xs2(&mut c, 75, 0xbff0_0000_0000_0000), QNAN); // sqrt(-1)
    assert!(c.fpscr & VXSQRT != 0);
    assert_eq!(c.fpscr & FPRF, FPRF_QNAN);
    assert_eq!(
        xs2(&mut c, 90, 0x4010_0000_0000_0000),
        0x3fd0_0000_0000_0000
    ); // xsredp 4
    assert_eq!(
        xs2(&mut c, 74, 0x4010_0000_0000_0000),
        0x3fe0_0000_0000_0000
    ); // xsrsqrtedp 4
       // xsdivdp 1/0: ZX; with ZE=0 the result is +inf.
    assert_eq!(xs3(&mut c, 56, ONE, PZERO, 0), 0x7ff0_0000_0000_0000);
    assert!(c.fpscr & ZX != 0);
    // With ZE=1 the target (both doublewords) is left alone and FEX is set.
    let mut c = fp_cpu(ZE);
    c.vsr[2] = [ONE, 0];
    c.vsr[35] = [PZERO, 0];
    c.vsr[60] = [0x1234, 0x5678];
    exec(&mut c, xx3(56, 60, 2, 35));
    assert_eq!(c.vsr[60], [0x1234, 0x5678]);
    assert_eq!(c.fpscr & (ZX | FEX | FX), ZX | FEX | FX);
    // ... and with MSR[FE0] the enabled exception interrupts.
    c.set_msr(c.msr | msr::FE0);
    assert_eq!(
        try_exec(&mut c, xx3(56, 60, 2, 35)),
        Err(Exception::Program(crate::cpu::ProgramKind::FloatingPoint))
    );
}

#[test]
fn scalar_compares() {
    let mut c = fp_cpu(0);
    c.vsr[2] = [ONE, 0];
    c.vsr[3] = [TWO, 0];
    // xscmpudp cr2,vs2,vs3 (BF in bits 6:8)
    exec(&mut c, xx3(35, 2 << 2, 2, 3));
    assert_eq!(c.crf(2), 8);
    assert_eq!(c.fpscr >> 12 & 0xf, 8);
    c.vsr[3] = [QNAN, 0];
    exec(&mut c, xx3(35, 2 << 2, 2, 3));
    assert_eq!(c.crf(2), 1);
    assert_eq!(c.fpscr & (VXVC | VXSNAN), 0);
    exec(&mut c, xx3(43, 2 << 2, 2, 3)); // xscmpodp: VXVC for a QNaN
    assert!(c.fpscr & VXVC != 0);
    // xscmpexpdp compares exponents only.
    c.vsr[3] = [0x3ff8_0000_0000_0000, 0];
    exec(&mut c, xx3(59, 7 << 2, 2, 3));
    assert_eq!(c.crf(7), 2);
    c.vsr[3] = [0x3fe0_0000_0000_0000, 0];
    exec(&mut c, xx3(59, 7 << 2, 2, 3));
    assert_eq!(c.crf(7), 4);
    c.vsr[3] = [SNAN, 0];
    let f = c.fpscr;
    exec(&mut c, xx3(59, 7 << 2, 2, 3));
    assert_eq!(c.crf(7), 1);
    assert_eq!(c.fpscr & !0xf000, f & !0xf000, "no exceptions");
    // xscmpeqdp/gtdp/gedp masks.
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 3, ONE, ONE, 7), u64::MAX);
    assert_eq!(xs3(&mut c, 11, ONE, ONE, 7), 0);
    assert_eq!(xs3(&mut c, 19, ONE, ONE, 7), u64::MAX);
    assert_eq!(xs3(&mut c, 11, TWO, ONE, 7), u64::MAX);
    assert_eq!(xs3(&mut c, 3, QNAN, QNAN, 7), 0);
    assert_eq!(c.fpscr & (VXVC | VXSNAN), 0, "eq is quiet");
    assert_eq!(xs3(&mut c, 19, QNAN, ONE, 7), 0);
    assert!(c.fpscr & VXVC != 0, "ge signals on a QNaN");
    assert_eq!(xs3(&mut c, 3, NZERO, PZERO, 7), u64::MAX, "-0 == +0");
}

#[test]
fn xsmaxcdp_and_friends_with_nans_and_zeros() {
    let mut c = fp_cpu(0);
    // Type C: (a > b) ? a : b.
    assert_eq!(xs3(&mut c, 128, PZERO, NZERO, 9), NZERO);
    assert_eq!(xs3(&mut c, 128, NZERO, PZERO, 9), PZERO);
    assert_eq!(xs3(&mut c, 128, QNAN, ONE, 9), ONE);
    assert_eq!(xs3(&mut c, 128, ONE, QNAN, 9), QNAN);
    assert_eq!(xs3(&mut c, 128, TWO, ONE, 9), TWO);
    assert_eq!(c.fpscr & VXSNAN, 0);
    assert_eq!(xs3(&mut c, 128, SNAN, ONE, 9), ONE);
    assert!(c.fpscr & VXSNAN != 0);
    assert_eq!(xs3(&mut c, 136, PZERO, NZERO, 9), NZERO); // xsmincdp
    assert_eq!(xs3(&mut c, 136, ONE, TWO, 9), ONE);
    assert_eq!(
        xs3(&mut c, 136, ONE, SNAN, 9),
        SNAN,
        "NaN b is returned unchanged"
    );
    // VE=1 with an SNaN keeps the target.
    let mut c = fp_cpu(VE);
    assert_eq!(xs3(&mut c, 128, SNAN, ONE, 9), 9);
    // Type J: NaN operands propagate (XA first), -0 < +0 whichever order.
    let mut c = fp_cpu(0);
    assert_eq!(xs3(&mut c, 144, PZERO, NZERO, 9), PZERO);
    assert_eq!(xs3(&mut c, 144, NZERO, PZERO, 9), PZERO);
    assert_eq!(xs3(&mut c, 152, PZERO, NZERO, 9), NZERO);
    assert_eq!(xs3(&mut c, 144, QNAN, ONE, 9), QNAN);
    assert_eq!(xs3(&mut c, 144, ONE, QNAN | 5, 9), QNAN | 5);
    // xsmaxdp/xsmindp: a QNaN loses to a number, an SNaN is returned quieted.
    assert_eq!(xs3(&mut c, 160, QNAN, ONE, 9), ONE);
    assert_eq!(xs3(&mut c, 160, ONE, QNAN, 9), ONE);
    assert_eq!(xs3(&mut c, 160, ONE, SNAN, 9), SNAN | 1 << 51);
    assert_eq!(xs3(&mut c, 160, NZERO, PZERO, 9), PZERO);
    assert_eq!(xs3(&mut c, 168, PZERO, NZERO, 9), NZERO);
    assert_eq!(
        xs3(&mut c, 168, TWO, 0xc000_0000_0000_0000, 9),
        0xc000_0000_0000_0000
    );
}

#[test]
fn round_to_integral() {
    let x = 0x4004_0000_0000_0000; // 2.5
    let m = x | 1 << 63;
    let mut c = fp_cpu(0);
    assert_eq!(xs2(&mut c, 73, x), THREE); // xsrdpi: nearest, ties away
    assert_eq!(xs2(&mut c, 89, x), TWO); // xsrdpiz
    assert_eq!(xs2(&mut c, 121, m), THREE | 1 << 63); // xsrdpim
    assert_eq!(xs2(&mut c, 105, 0x4000_cccc_cccc_cccd), THREE); // xsrdpip 2.1
    assert_eq!(c.fpscr & XX, 0, "fixed-mode forms do not report inexact");
    assert_eq!(xs2(&mut c, 107, x), TWO); // xsrdpic, ties to even
    assert!(c.fpscr & XX != 0);
    let mut c = fp_cpu(RN_UP);
    assert_eq!(xs2(&mut c, 107, 0x4000_cccc_cccc_cccd), THREE);
    // Vector single: xvrspiz / xvrspi on 2.5, -2.5, 0.5, 7.0
    let mut c = fp_cpu(0);
    c.set_vsr128(35, 0x40200000_c0200000_3f000000_40e00000);
    exec(&mut c, xx2(153, 1, 0, 35));
    assert_eq!(c.vsr128(1), 0x40000000_c0000000_00000000_40e00000);
    exec(&mut c, xx2(137, 1, 0, 35));
    assert_eq!(c.vsr128(1), 0x40400000_c0400000_3f800000_40e00000);
}

#[test]
fn non_signalling_single_conversions() {
    let mut c = fp_cpu(0);
    let f = c.fpscr;
    // xscvdpspn: no rounding (truncation of extra bits), words 0 and 1, no status.
    for (d, s) in [
        (ONE, 0x3f80_0000u64),
        (ONE + 1, 0x3f80_0000),
        (0x7ff0_0000_2000_0000, 0x7f80_0001), // SNaN stays signalling
        (0x37d0_0000_0000_0000, 0x0008_0000), // 2^-130, a single denormal
        (0x3690_0000_0000_0000, 0),           // 2^-150 is below every single
    ] {
        c.vsr[35] = [d, 7];
        exec(&mut c, xx2(267, 40, 0, 35));
        assert_eq!(c.vsr[40], [s << 32 | s, 0], "xscvdpspn {d:#x}");
    }
    // xscvspdpn: word 0 to double, no quieting.
    for (s, d) in [
        (0x3f80_0000u32, ONE),
        (0x0000_0001, 0x36a0_0000_0000_0000),
        (0x7f80_0001, 0x7ff0_0000_2000_0000),
    ] {
        c.vsr[35] = [(s as u64) << 32 | 0xdead, 7];
        exec(&mut c, xx2(331, 40, 0, 35));
        assert_eq!(c.vsr[40], [d, 0], "xscvspdpn {s:#x}");
    }
    assert_eq!(c.fpscr, f);
    // The signalling forms: xscvspdp quiets with VXSNAN and sets FPRF.
    c.vsr[35] = [0x7f80_0001_0000_0000, 0];
    exec(&mut c, xx2(329, 40, 0, 35));
    assert_eq!(c.vsr[40], [0x7ff8_0000_2000_0000, 0]);
    assert_eq!(c.fpscr & (VXSNAN | FPRF), VXSNAN | FPRF_QNAN);
    // xscvdpsp rounds: 1 + 2^-24 ties to 1.0, or up to 0x3f800001.
    let mut c = fp_cpu(0);
    c.vsr[35] = [0x3ff0_0000_1000_0000, 0];
    exec(&mut c, xx2(265, 40, 0, 35));
    assert_eq!(c.vsr[40], [0x3f80_0000_3f80_0000, 0]);
    assert!(c.fpscr & XX != 0);
    let mut c = fp_cpu(RN_UP);
    c.vsr[35] = [0x3ff0_0000_1000_0000, 0];
    exec(&mut c, xx2(265, 40, 0, 35));
    assert_eq!(c.vsr[40], [0x3f80_0001_3f80_0001, 0]);
    // xsrsp: same rounding, result in double format.
    exec(&mut c, xx2(281, 40, 0, 35));
    assert_eq!(c.vsr[40], [0x3ff0_0000_2000_0000, 0]);
}

#[test]
fn integer_conversions() {
    let m37 = 0xc00d_9999_9999_999a; // -3.7
    let mut c = fp_cpu(0);
    assert_eq!(
        xs2(&mut c, 88, 0x400d_9999_9999_999a),
        0x0000_0003_0000_0003
    ); // xscvdpsxws
    assert!(c.fpscr & XX != 0);
    assert_eq!(xs2(&mut c, 88, m37), 0xffff_fffd_ffff_fffd);
    assert_eq!(xs2(&mut c, 88, QNAN), 0x8000_0000_8000_0000);
    assert!(c.fpscr & VXCVI != 0);
    assert_eq!(
        xs2(&mut c, 88, 0x4202_a05f_2000_0000),
        0x7fff_ffff_7fff_ffff
    ); // 1e10
    assert_eq!(xs2(&mut c, 344, m37), (-3i64) as u64); // xscvdpsxds
    assert_eq!(xs2(&mut c, 328, m37), 0); // xscvdpuxds saturates
    assert_eq!(
        xs2(&mut c, 72, 0x41f0_0000_0000_0000),
        0xffff_ffff_ffff_ffff
    ); // 2^32 -> u32 max
    assert_eq!(xs2(&mut c, 376, (-1i64) as u64), 0xbff0_0000_0000_0000); // xscvsxddp
    assert_eq!(xs2(&mut c, 360, u64::MAX), 0x43f0_0000_0000_0000); // xscvuxddp: 2^64
    assert!(c.fpscr & XX != 0);
    // xscvsxdsp rounds to single: 2^24 + 1 -> 2^24 (nearest), 2^24 + 2 (up).
    assert_eq!(xs2(&mut c, 312, (1 << 24) + 1), 0x4170_0000_0000_0000);
    let mut c = fp_cpu(RN_UP);
    assert_eq!(xs2(&mut c, 312, (1 << 24) + 1), 0x4170_0000_2000_0000);
    assert_eq!(xs2(&mut c, 296, (1 << 24) + 1), 0x4170_0000_2000_0000);
}

#[test]
fn vector_arithmetic_and_status() {
    let mut c = fp_cpu(RN_UP);
    c.fpscr |= 0b00101 << 12; // junk FPRF: vector ops must leave it
    c.vsr[2] = [ONE, TWO];
    c.vsr[3] = [0x3ca0_0000_0000_0000, TWO];
    exec(&mut c, xx3(96, 1, 2, 3)); // xvadddp
    assert_eq!(c.vsr[1], [ONE + 1, 0x4010_0000_0000_0000]);
    assert_eq!(c.fpscr & (XX | FPRF | FR | FI), XX | 0b00101 << 12);
    // xvaddsp: 1+1, inf + -inf, 1 + 2^-24 (ties to even), -0 + -0
    let mut c = fp_cpu(0);
    c.set_vsr128(2, 0x3f800000_7f800000_3f800000_80000000);
    c.set_vsr128(3, 0x3f800000_ff800000_33800000_80000000);
    exec(&mut c, xx3(64, 1, 2, 3));
    assert_eq!(c.vsr128(1), 0x40000000_7fc00000_3f800000_80000000);
    assert_eq!(c.fpscr & (VXISI | XX), VXISI | XX);
    // xvmulsp / xvdivsp / xvsqrtsp
    c.set_vsr128(2, 0x40400000_40000000_3f800000_40800000);
    c.set_vsr128(3, 0x40000000_40000000_40400000_40800000);
    exec(&mut c, xx3(80, 1, 2, 3));
    assert_eq!(c.vsr128(1), 0x40c00000_40800000_40400000_41800000);
    exec(&mut c, xx3(88, 1, 2, 3));
    assert_eq!(c.vsr128(1), 0x3fc00000_3f800000_3eaaaaab_3f800000);
    exec(&mut c, xx2(139, 1, 0, 3));
    assert_eq!(c.vsr128(1), 0x3fb504f3_3fb504f3_3fddb3d7_40000000);
    // xvmaddasp: XA × XB + XT per word.
    c.set_vsr128(60, 0x3f800000_3f800000_3f800000_3f800000);
    exec(&mut c, xx3(65, 60, 2, 3));
    assert_eq!(c.vsr128(60), 0x40e00000_40a00000_40800000_41880000);
    // xvmaddmdp: XA × XT + XB.
    c.vsr[2] = [TWO, THREE];
    c.vsr[3] = [ONE, ONE];
    c.vsr[60] = [THREE, THREE];
    exec(&mut c, xx3(105, 60, 2, 3));
    assert_eq!(c.vsr[60], [0x401c_0000_0000_0000, 0x4024_0000_0000_0000]);
}

#[test]
fn vector_enabled_exception_keeps_target() {
    // XE=1 and an inexact element: nothing is written, XX and FEX are set.
    let mut c = fp_cpu(XE);
    c.vsr[2] = [ONE, ONE];
    c.vsr[3] = [ONE, 0x3ca0_0000_0000_0000];
    c.vsr[1] = [5, 6];
    exec(&mut c, xx3(96, 1, 2, 3));
    assert_eq!(c.vsr[1], [5, 6]);
    assert_eq!(c.fpscr & (XX | FEX), XX | FEX);
    // Without the enable the result is written.
    let mut c = fp_cpu(0);
    c.vsr[2] = [ONE, ONE];
    c.vsr[3] = [ONE, 0x3ca0_0000_0000_0000];
    exec(&mut c, xx3(96, 1, 2, 3));
    assert_eq!(c.vsr[1], [TWO, ONE]);
}

/// XX3 with Rc in bit 21.
fn xvcmp(xo: u32, rc: bool, xt: u32, xa: u32, xb: u32) -> u32 {
    xx3(xo | (rc as u32) << 7, xt, xa, xb)
}

#[test]
fn xvcmpeqdp_record_sets_cr6() {
    let mut c = fp_cpu(0);
    c.vsr[2] = [ONE, QNAN];
    c.vsr[3] = [ONE, QNAN];
    exec(&mut c, xvcmp(99, true, 1, 2, 3));
    assert_eq!(c.vsr[1], [u64::MAX, 0]);
    assert_eq!(c.crf(6), 0b0000);
    assert_eq!(c.fpscr & (VXSNAN | VXVC), 0);
    c.vsr[3] = [ONE, QNAN];
    c.vsr[2] = [ONE, NZERO];
    c.vsr[3] = [ONE, PZERO];
    exec(&mut c, xvcmp(99, true, 1, 2, 3));
    assert_eq!(c.vsr[1], [u64::MAX; 2]);
    assert_eq!(c.crf(6), 0b1000);
    c.vsr[3] = [TWO, THREE];
    exec(&mut c, xvcmp(99, true, 1, 2, 3));
    assert_eq!(c.vsr[1], [0, 0]);
    assert_eq!(c.crf(6), 0b0010);
    // Without Rc, CR6 is untouched.
    c.set_crf(6, 0b0101);
    exec(&mut c, xvcmp(99, false, 1, 2, 2));
    assert_eq!(c.vsr[1], [u64::MAX; 2]);
    assert_eq!(c.crf(6), 0b0101);
    // An SNaN with VE=1: VXSNAN, target kept, CR6 still set.
    let mut c = fp_cpu(VE);
    c.vsr[2] = [SNAN, ONE];
    c.vsr[3] = [ONE, ONE];
    c.vsr[1] = [7, 7];
    exec(&mut c, xvcmp(99, true, 1, 2, 3));
    assert_eq!(c.vsr[1], [7, 7]);
    assert_eq!(c.crf(6), 0b0000);
    assert!(c.fpscr & VXSNAN != 0);
    // gt/ge signal VXVC for QNaNs; the SP forms compare words.
    let mut c = fp_cpu(0);
    c.set_vsr128(2, 0x3f800000_40000000_7fc00000_bf800000);
    c.set_vsr128(3, 0x3f800000_3f800000_3f800000_3f800000);
    exec(&mut c, xvcmp(75, true, 1, 2, 3)); // xvcmpgtsp.
    assert_eq!(c.vsr128(1), 0x00000000_ffffffff_00000000_00000000);
    assert_eq!(c.crf(6), 0);
    assert!(c.fpscr & VXVC != 0);
    exec(&mut c, xvcmp(83, false, 1, 2, 3)); // xvcmpgesp
    assert_eq!(c.vsr128(1), 0xffffffff_ffffffff_00000000_00000000);
    exec(&mut c, xvcmp(67, true, 1, 3, 3)); // xvcmpeqsp.
    assert_eq!(c.vsr128(1), u128::MAX);
    assert_eq!(c.crf(6), 0b1000);
}

#[test]
fn software_divide_and_sqrt_tests() {
    let mut c = fp_cpu(0);
    c.vsr[2] = [ONE, ONE];
    c.vsr[3] = [TWO, PZERO];
    exec(&mut c, xx3(61, 1 << 2, 2, 3)); // xstdivdp cr1
    assert_eq!(c.crf(1), 0b1000);
    exec(&mut c, xx3(125, 1 << 2, 2, 3)); // xvtdivdp: element 1 divides by zero
    assert_eq!(c.crf(1), 0b1110);
    c.set_vsr128(4, 0x3f800000_3f800000_3f800000_3f800000);
    c.set_vsr128(5, 0x40000000_40000000_40000000_00000001); // a denormal divisor
    exec(&mut c, xx3(93, 3 << 2, 4, 5)); // xvtdivsp
    assert_eq!(c.crf(3), 0b1110);
    exec(&mut c, xx2(170, 3 << 2, 0, 4)); // xvtsqrtsp of 1.0
    assert_eq!(c.crf(3), 0b1000);
    exec(&mut c, xx2(106, 3 << 2, 0, 3)); // xstsqrtdp of 2.0
    assert_eq!(c.crf(3), 0b1000);
    c.vsr[3] = [0xc000_0000_0000_0000, 0];
    exec(&mut c, xx2(106, 3 << 2, 0, 3)); // negative
    assert_eq!(c.crf(3), 0b1010);
}

#[test]
fn vector_conversions() {
    let mut c = fp_cpu(0);
    c.vsr[3] = [ONE, 0xc000_0000_0000_0000];
    exec(&mut c, xx2(393, 1, 0, 3)); // xvcvdpsp: both words of each doubleword
    assert_eq!(c.vsr[1], [0x3f80_0000_3f80_0000, 0xc000_0000_c000_0000]);
    c.set_vsr128(3, 0x3f800000_12345678_7f800001_12345678);
    exec(&mut c, xx2(457, 1, 0, 3)); // xvcvspdp: words 0 and 2, SNaN quieted
    assert_eq!(c.vsr[1], [ONE, 0x7ff8_0000_2000_0000]);
    assert!(c.fpscr & VXSNAN != 0);
    c.set_vsr128(3, 0xffffffff_00000000_00000005_00000000);
    exec(&mut c, xx2(248, 1, 0, 3)); // xvcvsxwdp
    assert_eq!(c.vsr[1], [0xbff0_0000_0000_0000, 0x4014_0000_0000_0000]);
    exec(&mut c, xx2(232, 1, 0, 3)); // xvcvuxwdp: 2^32 - 1
    assert_eq!(c.vsr[1], [0x41ef_ffff_ffe0_0000, 0x4014_0000_0000_0000]);
    let mut c = fp_cpu(0);
    c.vsr[3] = [0xc00c_0000_0000_0000, 0x4415_af1d_78b5_8c40]; // -3.5, 1e20
    exec(&mut c, xx2(216, 1, 0, 3)); // xvcvdpsxws
    assert_eq!(c.vsr[1], [0xffff_fffd_ffff_fffd, 0x7fff_ffff_7fff_ffff]);
    assert_eq!(c.fpscr & (VXCVI | XX), VXCVI | XX);
    exec(&mut c, xx2(472, 1, 0, 3)); // xvcvdpsxds
    assert_eq!(c.vsr[1], [(-3i64) as u64, 0x7fff_ffff_ffff_ffff]);
    c.set_vsr128(3, 0x3fc00000_bfc00000_7fc00000_4f32d05e); // 1.5 -1.5 NaN 3e9
    exec(&mut c, xx2(152, 1, 0, 3)); // xvcvspsxws
    assert_eq!(c.vsr128(1), 0x00000001_ffffffff_80000000_7fffffff);
    exec(&mut c, xx2(136, 1, 0, 3)); // xvcvspuxws
    assert_eq!(c.vsr128(1), 0x00000001_00000000_00000000_b2d05e00);
    exec(&mut c, xx2(408, 1, 0, 3)); // xvcvspsxds: words 0 and 2
    assert_eq!(c.vsr[1], [1, 0x8000_0000_0000_0000]);
    c.set_vsr128(3, 0x01000001_ffffffff_00000003_80000000);
    exec(&mut c, xx2(184, 1, 0, 3)); // xvcvsxwsp: 2^24+1 rounds to 2^24
    assert_eq!(c.vsr128(1), 0x4b800000_bf800000_40400000_cf000000);
    exec(&mut c, xx2(168, 1, 0, 3)); // xvcvuxwsp
    assert_eq!(c.vsr128(1), 0x4b800000_4f800000_40400000_4f000000);
    c.vsr[3] = [(-2i64) as u64, 1 << 40];
    exec(&mut c, xx2(504, 1, 0, 3)); // xvcvsxddp
    assert_eq!(c.vsr[1], [0xc000_0000_0000_0000, 0x4270_0000_0000_0000]);
    exec(&mut c, xx2(440, 1, 0, 3)); // xvcvsxdsp: both words of each doubleword
    assert_eq!(c.vsr[1], [0xc000_0000_c000_0000, 0x5380_0000_5380_0000]);
}

#[test]
fn half_precision_conversions() {
    // xscvdphp (sub-opcode 17): (double, half) under round to nearest.
    for (d, h, flags) in [
        (ONE, 0x3c00u64, 0),
        (0x40ef_fc00_0000_0000, 0x7bff, 0), // 65504, the largest half
        (0x3e70_0000_0000_0000, 0x0001, 0), // 2^-24, smallest denormal, exact
        (0xbff8_0000_0000_0000, 0xbe00, 0), // -1.5
        (0x7ff0_0000_0000_0000, 0x7c00, 0),
        (QNAN | 1 << 50, 0x7f00, 0),
        (0x7ff0_0400_0000_0000, 0x7e01, VXSNAN), // SNaN: quieted
        (0x40ef_fe00_0000_0000, 0x7c00, OX | XX | FR), // 65520 ties up to 2^16: overflow
        (0x3e60_0000_0000_0000, 0x0000, UX | XX), // 2^-25 ties to even zero
        (0x3e78_0000_0000_0000, 0x0002, UX | XX | FR), // 1.5 * 2^-24 ties to even 2^-23
        (0x3f0f_fe00_0000_0000, 0x0400, UX | XX | FR), // just below 2^-14 rounds up to it
    ] {
        let mut c = fp_cpu(0);
        c.vsr[35] = [d, 0x2222];
        exec(&mut c, xx2(347, 60, 17, 35));
        assert_eq!(c.vsr[60], [h, 0], "xscvdphp {d:#x}");
        assert_eq!(
            c.fpscr & (VXSNAN | OX | UX | XX | FR),
            flags,
            "flags {d:#x}"
        );
    }
    // FPRF classifies the half result: 2^-24 is a denormal half.
    let mut c = fp_cpu(0);
    c.vsr[35] = [0x3e70_0000_0000_0000, 0];
    exec(&mut c, xx2(347, 60, 17, 35));
    assert_eq!(c.fpscr & FPRF, 0b10100 << 12);
    // Round toward zero: 65520 gives the largest finite half.
    let mut c = fp_cpu(RN_ZERO);
    c.vsr[35] = [0x40ef_fe00_0000_0000, 0];
    exec(&mut c, xx2(347, 60, 17, 35));
    assert_eq!(c.vsr[60], [0x7bff, 0]);
    // xscvhpdp (sub-opcode 16): halfword 3 of doubleword 0.
    for (h, d) in [
        (0xdead_0000_0000_3c00u64, ONE),
        (0x0001, 0x3e70_0000_0000_0000),
        (0x03ff, 0x3f0f_f800_0000_0000), // largest denormal half
        (0xfc00, 0xfff0_0000_0000_0000),
        (0x7c01, 0x7ff8_0400_0000_0000),
    ] {
        let mut c = fp_cpu(0);
        c.vsr[35] = [h, 0x2222];
        exec(&mut c, xx2(347, 60, 16, 35));
        assert_eq!(c.vsr[60], [d, 0], "xscvhpdp {h:#x}");
        assert_eq!(c.fpscr & VXSNAN != 0, h == 0x7c01);
    }
    // Vector forms work on the low halfword of each word.
    let mut c = fp_cpu(0);
    c.set_vsr128(3, 0x3f800000_bfc00000_477fe000_7f800000);
    exec(&mut c, xx2(475, 1, 25, 3)); // xvcvsphp
    assert_eq!(c.vsr128(1), 0x00003c00_0000be00_00007bff_00007c00);
    c.set_vsr128(3, 0xdead3c00_00000001_0000fc00_12347e00);
    exec(&mut c, xx2(475, 1, 24, 3)); // xvcvhpsp
    assert_eq!(c.vsr128(1), 0x3f800000_33800000_ff800000_7fc00000);
}
