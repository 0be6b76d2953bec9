//! The `#[target]` attribute of the `multiprocessing` crate.
//!
//! Use it through its re-export, `#[multiprocessing::target]`; see that crate's documentation.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ItemFn};

/// Registers a free function as a process target that can cross a `spawn` or `forkserver`
/// boundary by name, the way pickle sends a function by its qualified name.
///
/// The function keeps its signature and can still be called directly. Its arguments must be
/// `serde::Serialize + serde::de::DeserializeOwned`. A function that returns `()` or a
/// `Result<(), E>` can be a process target; one whose result is `serde::Serialize` can be a task
/// of a `Pool` or an `Executor` (both, for `()`).
#[proc_macro_attribute]
pub fn target(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[multiprocessing::target] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let function = parse_macro_input!(item as ItemFn);
    let sig = &function.sig;
    if !sig.generics.params.is_empty() {
        return syn::Error::new_spanned(
            &sig.generics,
            "a process target cannot be generic: the child finds it by one fixed name",
        )
        .to_compile_error()
        .into();
    }
    if let Some(receiver) = sig.receiver() {
        return syn::Error::new_spanned(
            receiver,
            "a process target must be a free function, not a method",
        )
        .to_compile_error()
        .into();
    }
    if sig.asyncness.is_some() {
        return syn::Error::new_spanned(sig.asyncness, "a process target cannot be async")
            .to_compile_error()
            .into();
    }
    let name = &sig.ident;
    // The argument tuple, so that the registry entry can ask, by method resolution, whether the
    // function is a process target (returns a `TargetResult`), a pool task (its arguments and
    // result cross through serde), or both.
    let types: Vec<&syn::Type> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => Some(&*typed.ty),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let expanded = quote! {
        #function

        const _: () = {
            #[::multiprocessing::__private::linkme::distributed_slice(::multiprocessing::__private::TARGETS)]
            #[linkme(crate = ::multiprocessing::__private::linkme)]
            static ENTRY: ::multiprocessing::__private::TargetEntry = ::multiprocessing::__private::TargetEntry {
                name: || ::std::any::type_name_of_val(&#name),
                run: |bytes| {
                    #[allow(unused_imports)]
                    use ::multiprocessing::__private::{RunAsTarget as _, RunAsTargetFallback as _};
                    (&::multiprocessing::__private::Probe::<_, (#(#types,)*)>::of(#name)).run_target(bytes)
                },
                task: |args, count, out| {
                    #[allow(unused_imports)]
                    use ::multiprocessing::__private::{RunAsTask as _, RunAsTaskFallback as _};
                    (&::multiprocessing::__private::Probe::<_, (#(#types,)*)>::of(#name)).run_task(args, count, out)
                },
            };
        };
    };
    expanded.into()
}
