// Linux's epoll, which Swift's Glibc module does not export: HTTPServer's connection pools
// each watch their sockets with one epoll instance (see ConnectionPool.swift).
#include <sys/epoll.h>
