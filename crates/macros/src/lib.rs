//! `#[tool]`: turns an `async fn` into an AuthGate MCP tool. The function
//! stays as written (callable from Rust); the attribute adds a unit struct
//! named in CamelCase that implements `authgate_core::Tool`, with the doc
//! comment as the description and the schemas generated from the argument
//! and result types.
//!
//! ```ignore
//! /// List the callback URLs allowed for this project, oldest first.
//! #[tool(read, group = "auth_config", title = "List callback URLs")]
//! pub async fn list_callbacks(
//!     ctx: &ToolContext,
//!     conn: &mut Conn<'_>,
//!     args: ListArgs,
//! ) -> Result<Page<Callback>, ToolError> { ... }
//!
//! registry.register(ListCallbacks);
//! ```
//!
//! Arguments of the attribute: the kind (`read`, `write` or `danger`),
//! `group`, `title`, and optionally `example` (JSON text, default `{}`),
//! `idempotent` (read tools always are), `audited` (write and danger
//! tools always are; a read tool that hands out personal data, such as an
//! export, says so) and `output_schema` (a function of
//! the registry, for a result whose shape other domains contribute to). A
//! function that takes `conn` runs inside the call's unit of work; one
//! that takes only `ctx` and its arguments needs no database.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{
    Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, Meta, Path, PathArguments, ReturnType,
    Token, Type,
};

struct Attrs {
    kind: proc_macro2::Ident,
    group: Expr,
    title: Expr,
    example: Option<Expr>,
    idempotent: bool,
    audited: bool,
    output_schema: Option<Path>,
}

impl Parse for Attrs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let items = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut kind = None;
        let mut group = None;
        let mut title = None;
        let mut example = None;
        let mut idempotent = false;
        let mut audited = false;
        let mut output_schema = None;
        for item in items {
            match &item {
                Meta::Path(p)
                    if p.is_ident("read") || p.is_ident("write") || p.is_ident("danger") =>
                {
                    if kind.is_some() {
                        return Err(syn::Error::new(
                            p.span(),
                            "one kind only: read, write or danger",
                        ));
                    }
                    kind = p.get_ident().cloned();
                }
                Meta::Path(p) if p.is_ident("idempotent") => idempotent = true,
                Meta::Path(p) if p.is_ident("audited") => audited = true,
                Meta::NameValue(nv) if nv.path.is_ident("group") => group = Some(nv.value.clone()),
                Meta::NameValue(nv) if nv.path.is_ident("title") => title = Some(nv.value.clone()),
                Meta::NameValue(nv) if nv.path.is_ident("example") => {
                    example = Some(nv.value.clone())
                }
                Meta::NameValue(nv) if nv.path.is_ident("output_schema") => match &nv.value {
                    Expr::Path(p) => output_schema = Some(p.path.clone()),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "output_schema takes a function path",
                        ));
                    }
                },
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "expected read|write|danger, group = .., title = .., example = .., idempotent, audited or output_schema = ..",
                    ));
                }
            }
        }
        let missing =
            |what: &str| syn::Error::new(Span::call_site(), format!("#[tool] needs {what}"));
        Ok(Attrs {
            kind: kind.ok_or_else(|| missing("a kind: read, write or danger"))?,
            group: group.ok_or_else(|| missing("group = \"...\""))?,
            title: title.ok_or_else(|| missing("title = \"...\""))?,
            example,
            idempotent,
            audited,
            output_schema,
        })
    }
}

/// The doc comment as one description: lines joined by spaces, blank lines
/// kept as paragraph breaks.
fn description(func: &ItemFn) -> String {
    let mut paragraphs: Vec<String> = vec![String::new()];
    for attr in &func.attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = &nv.value
        else {
            continue;
        };
        let line = s.value();
        let line = line.trim();
        let Some(current) = paragraphs.last_mut() else {
            continue;
        };
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(String::new());
            }
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line);
        }
    }
    paragraphs.retain(|p| !p.is_empty());
    paragraphs.join("\n\n")
}

fn camel(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `T` of `Result<T, ToolError>`.
fn output_type(ret: &ReturnType) -> syn::Result<Type> {
    let err = || syn::Error::new(ret.span(), "a tool returns Result<Output, ToolError>");
    let ReturnType::Type(_, ty) = ret else {
        return Err(err());
    };
    let Type::Path(tp) = &**ty else {
        return Err(err());
    };
    let last = tp.path.segments.last().ok_or_else(err)?;
    if last.ident != "Result" {
        return Err(err());
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Err(err());
    };
    match args.args.first() {
        Some(GenericArgument::Type(t)) => Ok(t.clone()),
        _ => Err(err()),
    }
}

fn arg_type(arg: &FnArg) -> syn::Result<Type> {
    match arg {
        FnArg::Typed(pt) => Ok((*pt.ty).clone()),
        FnArg::Receiver(r) => Err(syn::Error::new(r.span(), "a tool is a free function")),
    }
}

/// What the function's signature says: whether it takes a connection,
/// and its argument and result types.
fn signature(func: &ItemFn) -> syn::Result<(bool, Type, Type)> {
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new(func.sig.span(), "a tool is an async fn"));
    }
    let inputs: Vec<&FnArg> = func.sig.inputs.iter().collect();
    let (uses_db, input_ty) = match inputs.as_slice() {
        [_ctx, args] => (false, arg_type(args)?),
        [_ctx, _conn, args] => (true, arg_type(args)?),
        _ => {
            return Err(syn::Error::new(
                func.sig.inputs.span(),
                "a tool takes (ctx: &ToolContext, args) or (ctx: &ToolContext, conn: &mut Conn<'_>, args)",
            ));
        }
    };
    Ok((uses_db, input_ty, output_type(&func.sig.output)?))
}

/// The body of `Tool::call`: the function, with the connection when it
/// takes one.
fn call_body(name: &syn::Ident, uses_db: bool) -> proc_macro2::TokenStream {
    let name_str = name.to_string();
    if uses_db {
        quote! {
            match conn {
                Some(conn) => #name(ctx, conn, input).await,
                None => Err(::authgate_core::ToolError::internal(concat!(#name_str, " was called without a connection"))),
            }
        }
    } else {
        quote! {
            let _ = conn;
            #name(ctx, input).await
        }
    }
}

/// The `ToolMeta` of the declaration.
fn meta(attrs: &Attrs, name_str: &str, doc: &str, uses_db: bool) -> proc_macro2::TokenStream {
    let kind_ident = &attrs.kind;
    let kind = match kind_ident.to_string().as_str() {
        "read" => quote!(::authgate_core::ToolKind::Read),
        "write" => quote!(::authgate_core::ToolKind::Write),
        _ => quote!(::authgate_core::ToolKind::Danger),
    };
    let idempotent = attrs.idempotent || *kind_ident == "read";
    let audited = attrs.audited || *kind_ident != "read";
    let (group, title) = (&attrs.group, &attrs.title);
    let example = attrs
        .example
        .as_ref()
        .map(|e| quote!(#e))
        .unwrap_or_else(|| quote!("{}"));
    quote! {
        ::authgate_core::ToolMeta {
            name: #name_str,
            title: #title,
            description: #doc,
            kind: #kind,
            group: #group,
            idempotent: #idempotent,
            example: #example,
            uses_db: #uses_db,
            audited: #audited,
        }
    }
}

fn expand(attrs: Attrs, func: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let (uses_db, input_ty, output_ty) = signature(&func)?;
    let name = &func.sig.ident;
    let name_str = name.to_string();
    let vis = &func.vis;
    let strukt = format_ident!("{}", camel(&name_str));
    let doc = description(&func);
    if doc.is_empty() {
        return Err(syn::Error::new(
            func.sig.span(),
            "a tool needs a doc comment: it is the description clients see",
        ));
    }
    let meta = meta(&attrs, &name_str, &doc, uses_db);
    let call = call_body(name, uses_db);
    let schema_fn = attrs.output_schema.map(|path| {
        quote! {
            fn output_schema(registry: &::authgate_core::status::StatusParts<'_>) -> ::authgate_core::schema::JsonObject {
                #path(registry)
            }
        }
    });
    let struct_doc = format!("The `{name_str}` tool (see [`{name_str}`]).");
    Ok(quote! {
        #func

        #[doc = #struct_doc]
        #vis struct #strukt;

        impl ::authgate_core::Tool for #strukt {
            type Input = #input_ty;
            type Output = #output_ty;
            const META: ::authgate_core::ToolMeta = #meta;

            async fn call(
                &self,
                ctx: &::authgate_core::ToolContext,
                conn: ::core::option::Option<&mut ::authgate_core::Conn<'_>>,
                input: #input_ty,
            ) -> ::core::result::Result<#output_ty, ::authgate_core::ToolError> {
                #call
            }

            #schema_fn
        }
    })
}

/// Declares an MCP tool; see the crate documentation.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attrs = syn::parse_macro_input!(attr as Attrs);
    let func = syn::parse_macro_input!(item as ItemFn);
    expand(attrs, func)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
