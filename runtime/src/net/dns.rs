//! Host names in `http://` and `tftp://` URLs: an A query to the lease's DNS server (DHCP
//! option 6) through smoltcp's DNS socket, which retransmits by itself (1 s, doubling) and
//! gives up after 10 s. The last answer is remembered, so the files of an entry on one server
//! cost one query.
// No allocator: a failure is a value with its URL or name in it (a few hundred bytes, on a
// 120 KiB stack), returned along the one path it takes.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use core::net::Ipv4Addr;
use core::ptr::addr_of_mut;

use smoltcp::socket::dns::{self, DnsQuery, GetQueryResultError};
use smoltcp::wire::{DnsQueryType, IpAddress};

use super::{FetchError, HostName, Lease, Net};
use crate::{println, time};

/// smoltcp's DNS socket fails a query after 10 s without an answer; a failure sooner than
/// this is the server's answer (no such name, or no address for it).
const NO_ANSWER_AFTER_MS: u64 = 9_000;
/// A guard in case the socket never settles the query.
const GIVE_UP_MS: u64 = 15_000;

static mut QUERIES: [Option<DnsQuery>; 1] = [const { None }; 1];

/// The last name resolved and its address.
#[derive(Default)]
pub(super) struct Cache {
    socket: Option<smoltcp::iface::SocketHandle>,
    last: Option<(HostName, Ipv4Addr)>,
}

impl Net<'_> {
    /// The address of a host name, by DNS.
    pub(super) fn resolve(&mut self, name: &str, lease: &Lease) -> Result<Ipv4Addr, FetchError> {
        let mut key = HostName::new();
        let _ = key.push_str(name);
        if let Some((cached, address)) = &self.dns.last
            && cached.eq_ignore_ascii_case(name)
        {
            return Ok(*address);
        }
        let Some(server) = lease.boot.dns_server else {
            return Err(FetchError::DnsNoServer { name: key });
        };
        let handle = match self.dns.socket {
            Some(handle) => handle,
            None => {
                // SAFETY: QUERIES is borrowed here once, for the rest of the run.
                let queries = unsafe { &mut (&mut *addr_of_mut!(QUERIES))[..] };
                let handle = self
                    .sockets
                    .add(dns::Socket::new(&[IpAddress::Ipv4(server)], queries));
                self.dns.socket = Some(handle);
                handle
            }
        };
        let context = self.iface.context();
        let socket = self.sockets.get_mut::<dns::Socket>(handle);
        socket.update_servers(&[IpAddress::Ipv4(server)]);
        let query = socket
            .start_query(context, name, DnsQueryType::A)
            .map_err(|_| FetchError::DnsNotFound {
                name: key.clone(),
                server,
            })?;
        let start = time::now_ms();
        let address = loop {
            self.poll();
            let socket = self.sockets.get_mut::<dns::Socket>(handle);
            match socket.get_query_result(query) {
                Ok(addresses) => {
                    break addresses.iter().find_map(|a| match a {
                        IpAddress::Ipv4(v4) => Some(*v4),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    });
                }
                Err(GetQueryResultError::Pending) => {}
                Err(GetQueryResultError::Failed) => {
                    if time::now_ms() - start >= NO_ANSWER_AFTER_MS {
                        return Err(FetchError::DnsTimeout { name: key, server });
                    }
                    break None;
                }
            }
            if time::now_ms() - start > GIVE_UP_MS {
                socket.cancel_query(query);
                return Err(FetchError::DnsTimeout { name: key, server });
            }
        };
        let Some(address) = address else {
            return Err(FetchError::DnsNotFound { name: key, server });
        };
        println!("dns: {name} is {address} (from {server})");
        self.dns.last = Some((key, address));
        Ok(address)
    }
}
