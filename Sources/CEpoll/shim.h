// Linux's epoll and eventfd, which Swift's Glibc module does not export: HTTPServer's
// connection pools each watch their sockets with one epoll instance, and wake its thread with
// an eventfd in it (responses from other threads, stop) (see ConnectionPool.swift).
#include <sys/epoll.h>
#include <sys/eventfd.h>
